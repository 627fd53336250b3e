/* Helpers shared by the subcommands that read checkpoints. */
#include "cmd/cmd.h"
#include "run/sandbox.h"
#include "util/error.h"
#include "loadgate/loadgate.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

const char *hx_default_backend(void)
{
    return strstr(lg_backends_built(), "torch") ? "torch" : "sim";
}

int hx_crc_mode_valid(const char *s)
{
    return !strcmp(s, "error") || !strcmp(s, "warn") || !strcmp(s, "off");
}

void hx_sha256_hex(const void *p, size_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    hex[0] = '\0';
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

json_t *hx_shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int k = 0; k < ndim; k++)
        json_array_append_new(a, json_integer(shape[k]));
    return a;
}

int hx_cmd_confined(const char *what, int (*fn)(void *), void *arg)
{
    int code = 1;
    if (hx_sandbox_call(fn, arg, &code) != LG_OK)
        fprintf(stderr, "harness %s: %s\n", what, hx_errmsg());
    return code;
}
