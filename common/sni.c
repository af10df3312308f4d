/* sni: placeholder until the ClientHello parser lands (being written now). */
#include "sni.h"

#include <string.h>

enum sni_result sni_parse_handshake(const uint8_t *msg, size_t len, struct sni_info *info)
{
	(void)msg;
	(void)len;
	memset(info, 0, sizeof(*info));
	return SNI_NOT_TLS;
}

enum sni_result sni_parse(const uint8_t *buf, size_t len, struct sni_info *info)
{
	return sni_parse_handshake(buf, len, info);
}

const char *sni_result_name(enum sni_result r)
{
	static const char *const names[] = {"found", "absent", "need-more", "not-tls", "invalid"};
	return (unsigned)r < 5 ? names[r] : "?";
}
