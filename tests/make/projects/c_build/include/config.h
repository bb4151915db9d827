#define GREETING "sum"
