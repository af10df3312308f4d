/* http_head: placeholder until the strict parser lands (being written now). */
#include "http_head.h"
