/*
 * cli.h: what the files of the breaktime command share.
 */
#ifndef BREAKTIME_CLI_H
#define BREAKTIME_CLI_H

struct conf;

/* Load the configuration, printing every error; NULL on failure. */
struct conf *cli_load(const char *path);

int cmd_presence(const char *path, int argc, char **argv);
/* report.c: `breaktime report KIND ...` */
int cmd_report(const char *path, int argc, char **argv);

#endif
