#include <stdio.h>
#include "mathx.h"
#include "config.h"
int main(void) {
    int s = 0;
    for (int i = 1; i <= 5; i++) s = add(s, i);
    printf("%s=%d product=%d\n", GREETING, s, mul(6, 7));
    return 0;
}
