/*
 * privdrop: give up root for USER after the privileged start-up (binding
 * low ports, opening a capture); shared by breaktimed and breaktime-sensor.
 */
#ifndef BREAKTIME_PRIVDROP_H
#define BREAKTIME_PRIVDROP_H

/* Nothing when user is NULL or the process is not root; otherwise become
 * USER (its groups too) for good, or fatal() saying why. */
void drop_privileges(const char *user);

#endif
