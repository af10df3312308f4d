/*
 * privdrop: see privdrop.h.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"

void drop_privileges(const char *user)
{
	if (!user || geteuid() != 0)
		return;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		fatal("user %s: no such user", user);
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s: %s", user, strerror(errno));
	if (setuid(0) == 0)
		fatal("privileges could be regained after dropping them to %s", user);
	log_info("running as %s", user);
}
