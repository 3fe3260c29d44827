/*
 * ipc_bench: the IPC benchmark driver (see bench/README.md and the comment at the top of
 * ipc_bench.h). bench/run.sh ipc runs it; one JSON record per measurement on stdout.
 *
 *   ipc_bench info
 *   ipc_bench run --scenario pingpong|fanin|pipeline --transport nativepools|shm|uds|uds_epoll|zmq
 *                 [--size 64] [--clients 1] [--workers 1] [--window 0] [--seconds 2] ...
 *   ipc_bench serve ... / ipc_bench client ...   (started by run)
 */
#include <stdio.h>
#include <string.h>

#include "ipc_bench.h"

int ipc_info_main(int argc, char** argv);

int main(int argc, char** argv)
{
    static const struct {
        const char* name;
        int (*run)(int, char**);
    } subcommands[] = {
        {"info", ipc_info_main}, {"run", ipc_run_main}, {"serve", ipc_serve_main}, {"client", ipc_client_main},
    };
    if (argc >= 2)
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc, argv);
    fprintf(stderr, "usage: ipc_bench info|run [--options] (see bench/ipc/ipc_main.c)\n");
    return 2;
}
