#ifndef MATHX_H
#define MATHX_H
int add(int a, int b);
int mul(int a, int b);
#endif
