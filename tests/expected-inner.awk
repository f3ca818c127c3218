# expected-inner.awk - the inner entity smimekit must encrypt for a message:
# its Content-* header fields (with their folded lines) and its body, every
# line ended by CRLF.  Written independently of lib/ to check it.
BEGIN { in_header = 1; keep = 0 }
{
	sub(/\r$/, "")
	if (in_header) {
		if ($0 == "") {
			in_header = 0
			printf "\r\n"
			next
		}
		if ($0 ~ /^[ \t]/) {		# continuation of the previous field
			if (keep)
				printf "%s\r\n", $0
			next
		}
		keep = (tolower($0) ~ /^content-[^:]*:/)
		if (keep)
			printf "%s\r\n", $0
		next
	}
	printf "%s\r\n", $0
}
