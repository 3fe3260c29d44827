# Install NativePools under a prefix, then build and run a program against it from anywhere.
prefix=$(mktemp -d)    # or /usr/local (the default), $HOME/.local, /opt/nativepools, ...
./build.sh install --prefix "$prefix" > /dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
app=$(mktemp -d)
cc bindings/c/examples/hello_pool.c $(pkg-config --cflags --libs nativepools) -o "$app/hello_pool"
cd / && "$app/hello_pool"
