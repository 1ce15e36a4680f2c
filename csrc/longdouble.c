/* Redis's INCRBYFLOAT / HINCRBYFLOAT arithmetic, byte for byte.
 *
 * Redis parses both operands with strtold, adds them as C `long double` (80-bit x87 on
 * x86-64 Linux) and prints the sum with "%.17Lf" minus trailing zeros (ld2string's
 * LD_STR_HUMAN mode). Rust has no long double, so the few lines that need it live here. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis's string2ld. */
static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    /* The parse must consume all slen bytes: with an embedded NUL ("1\0 2") strtold stops
     * at the NUL, where eptr[0] is '\0' too. */
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        ((errno == ERANGE) &&
         (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Redis's ld2string in LD_STR_HUMAN mode. Returns the length, or 0 if it did not fit. */
static size_t ld2string_human(char *buf, size_t len, long double value) {
    size_t l;
    if (isinf(value)) {
        if (len < 5) return 0;
        if (value > 0) { memcpy(buf, "inf", 3); l = 3; }
        else { memcpy(buf, "-inf", 4); l = 4; }
        return l;
    }
    int n = snprintf(buf, len, "%.17Lf", value);
    if (n < 0 || (size_t)n + 1 > len) return 0;
    l = (size_t)n;
    if (memchr(buf, '.', l) != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    return l;
}

/* cur may be NULL (missing key counts as 0). Writes the new value's text to out
 * (capacity MAX_LONG_DOUBLE_CHARS) and its length to *outlen.
 * Returns 0 on success, 1 if an operand is not a valid float, 2 if the result is NaN or
 * infinite, 3 if the result does not fit. */
int keyval_incrbyfloat(const char *cur, size_t curlen, const char *incr, size_t incrlen,
                       char *out, size_t *outlen) {
    long double value = 0, by;
    if (cur != NULL && !string2ld(cur, curlen, &value)) return 1;
    if (!string2ld(incr, incrlen, &by)) return 1;
    value += by;
    if (isnan(value) || isinf(value)) return 2;
    size_t l = ld2string_human(out, MAX_LONG_DOUBLE_CHARS, value);
    if (l == 0) return 3;
    *outlen = l;
    return 0;
}
