// SPDX-License-Identifier: MIT
#include <stdio.h>
int main(void) { puts("lfpd"); return 0; }
