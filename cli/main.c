// SPDX-License-Identifier: MIT
#include <stdio.h>
int main(void) { puts("lfp"); return 0; }
