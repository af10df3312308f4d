/*
 * cli.h: what the files of the breaktime command share.
 */
#ifndef BREAKTIME_CLI_H
#define BREAKTIME_CLI_H

struct conf;

/* Load the configuration, printing every error; NULL on failure. */
struct conf *cli_load(const char *path);

int cmd_presence(const char *path, int argc, char **argv);
/* ca.c: `breaktime ca create|check`; and for `breaktime check`, the
 * configured block_ca loaded and held against the catalog: 0 (uncovered
 * names are warnings on stderr), -1 after printing why it cannot load. */
int cmd_ca(const char *path, int argc, char **argv);
int ca_check_configured(const struct conf *c);
/* report.c: `breaktime report KIND ...` */
int cmd_report(const char *path, int argc, char **argv);

#endif
