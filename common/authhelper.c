/*
 * authhelper: the Squid basic-auth helper client (see authhelper.h).
 *
 * DESIGN. fork + execv with two O_CLOEXEC pipes (the child's stdin and
 * stdout; its stderr stays ours, so its complaints reach our log). Our
 * ends are non-blocking: a helper that stops reading or answering can
 * never block the caller, and authhelper_ask() waits with poll(2) against
 * a deadline. The answer line is collected in a small buffer; only its
 * first word counts (helpers may add "message=..." after it).
 * Credentials are escaped into a stack buffer that is wiped after use.
 */
#include "authhelper.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strutil.h"
#include "username.h"

struct authhelper {
	pid_t pid;
	int to, from;               /* its stdin, its stdout */
	size_t n;                   /* bytes of the answer so far */
	char line[256];
	char cmd[512];
};

struct authhelper *authhelper_start(const char *cmd)
{
	int in[2], out[2];
	char *argv[32];
	char buf[512];
	int argc = 0;

	str_copy(buf, sizeof(buf), cmd);
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && argc < 31;
	     t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	if (argc == 0 || argv[0][0] != '/') {
		log_err("auth helper `%s`: not an absolute path", cmd);
		return NULL;
	}
	struct authhelper *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (pipe2(in, O_CLOEXEC) < 0) {
		free(h);
		return NULL;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		free(h);
		return NULL;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_err("auth helper %s: fork: %s", cmd, strerror(errno));
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		free(h);
		return NULL;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	h->pid = pid;
	h->to = in[1];
	h->from = out[0];
	fcntl(h->to, F_SETFL, fcntl(h->to, F_GETFL) | O_NONBLOCK);
	fcntl(h->from, F_SETFL, fcntl(h->from, F_GETFL) | O_NONBLOCK);
	str_copy(h->cmd, sizeof(h->cmd), cmd);
	return h;
}

void authhelper_stop(struct authhelper *h)
{
	if (!h)
		return;
	close(h->to);
	close(h->from);
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		int i;
		for (i = 0; i < 20 && waitpid(h->pid, NULL, WNOHANG) == 0; i++) {
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (i == 20) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, NULL, 0);
		}
	}
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

const char *authhelper_cmd(const struct authhelper *h)
{
	return h->cmd;
}

int authhelper_fd(const struct authhelper *h)
{
	return h->from;
}

/* Squid helpers read RFC 1738-escaped fields. */
static size_t url_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; *in && o + 4 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '@') {
			out[o++] = (char)ch;
		} else {
			static const char hex[] = "0123456789ABCDEF";
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return o;
}

int authhelper_send(struct authhelper *h, const char *user, const char *pass)
{
	char q[3 * 1100 + 8], name[128];
	/* the helper is asked about the canonical name (username.h), the one
	 * that is recorded: `Alice` and `alice` get one answer */
	username_copy(name, sizeof(name), user);
	size_t n = url_escape(name, q, 3 * 64 + 4);
	q[n++] = ' ';
	n += url_escape(pass, q + n, sizeof(q) - n - 2);
	q[n++] = '\n';
	h->n = 0;
	ssize_t w = write(h->to, q, n);
	OPENSSL_cleanse(q, sizeof(q));
	return w == (ssize_t)n ? 0 : -1;
}

int authhelper_read(struct authhelper *h)
{
	for (;;) {
		if (h->n + 1 >= sizeof(h->line))
			return AUTHHELPER_ERROR;
		ssize_t r = read(h->from, h->line + h->n, sizeof(h->line) - 1 - h->n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return AUTHHELPER_AGAIN;
		if (r <= 0)
			return AUTHHELPER_ERROR;
		h->n += (size_t)r;
		h->line[h->n] = '\0';
		char *nl = strchr(h->line, '\n');
		if (!nl)
			continue;
		*nl = '\0';
		int ret = AUTHHELPER_ERROR;
		if (strncmp(h->line, "OK", 2) == 0 && (!h->line[2] || h->line[2] == ' '))
			ret = AUTHHELPER_OK;
		else if (strncmp(h->line, "ERR", 3) == 0 && (!h->line[3] || h->line[3] == ' '))
			ret = AUTHHELPER_REFUSED;
		else if (strncmp(h->line, "BH", 2) == 0)
			log_warn("auth helper %s: broken helper answer", h->cmd);
		/* one question, one line: anything after it is out of step */
		if (ret != AUTHHELPER_ERROR && nl + 1 != h->line + h->n)
			ret = AUTHHELPER_ERROR;
		h->n = 0;
		return ret;
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int authhelper_ask(struct authhelper *h, const char *user, const char *pass, int timeout_ms)
{
	if (authhelper_send(h, user, pass) < 0)
		return AUTHHELPER_ERROR;
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		int r = authhelper_read(h);
		if (r != AUTHHELPER_AGAIN)
			return r;
		long long left = deadline - now_ms();
		if (left <= 0)
			return AUTHHELPER_ERROR;
		struct pollfd p = {.fd = h->from, .events = POLLIN};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return AUTHHELPER_ERROR;
	}
}
