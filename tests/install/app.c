/* app.c: a program built against an installed NativePools (pkg-config or CMake), run from
 * outside the checkout by tests/install/check_install.sh. */
#include <stdio.h>
#include <string.h>

#include "nativepools.h"

int main(void)
{
    np_pool_options options;
    np_pool pool = 0;
    void *block = NULL;
    if (np_version() != NP_VERSION_NUMBER) {
        printf("library %s does not match header %d.%d.%d\n", np_version_string(), NP_VERSION_MAJOR, NP_VERSION_MINOR,
               NP_VERSION_PATCH);
        return 1;
    }
    if (np_pool_options_init(&options) != NP_OK) return 1;
    options.block_size = 264;
    if (np_pool_create(&options, &pool) != NP_OK) return 1;
    if (np_pool_alloc(pool, &block) != NP_OK) return 1;
    strcpy((char *)block, "installed");
    printf("nativepools %s: %s\n", np_version_string(), (const char *)block);
    if (np_pool_free(pool, block) != NP_OK || np_pool_destroy(pool) != NP_OK) return 1;
    return 0;
}
