#include <stdio.h>
#include "build_config.h"
int main(void)
{
	printf("breaktimed %s\n", BREAKTIME_VERSION);
	return 0;
}
