#!/usr/bin/env bash
# Builds the deployable agent in Embedded Swift: no Swift runtime, only the target's C library, libzstd linked in,
# stripped. One source with the normal build (swift build), compiled module by module with swiftc.
#
#   tools/build-agent.sh OUTDIR [--target TRIPLET] [--keep-symbols]
#
# TRIPLET is a GNU triplet (what the target's gcc is called); without --target, this machine's own:
#   x86_64-linux-gnu         glibc, dynamic              x86_64-linux-musl        musl, fully static
#   armv7-linux-gnueabihf    glibc, dynamic, hard-float  armv7-linux-musleabihf   musl, fully static
#   aarch64-linux-gnu        glibc, dynamic              aarch64-linux-musl       musl, fully static
#   riscv64-linux-gnu        glibc, dynamic (tested by hand under qemu, not in CI: docs/porting.md)
# Writes OUTDIR/fieldagent. Cross toolchains, qemu-user and the targets' libraries come from Debian
# (tools/setup-cross.sh, run here when a cross target is asked for). Intermediate files go to .build-agent/TRIPLET.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
OUT="" TARGET="" KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET=${2:?--target needs a triplet}; shift 2 ;;
    --target=*) TARGET=${1#--target=}; shift ;;
    --keep-symbols) KEEP=1; shift ;;
    -h|--help) usage ;;
    -*) echo "build-agent: unknown option $1" >&2; usage ;;
    *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
  esac
done
[ -n "$OUT" ] || usage
if [ -z "$TARGET" ]; then
  case "$(uname -m)" in
    x86_64) TARGET=x86_64-linux-gnu ;;
    aarch64) TARGET=aarch64-linux-gnu ;;
    armv7l) TARGET=armv7-linux-gnueabihf ;;
    *) echo "build-agent: no default target for $(uname -m); pass --target" >&2; exit 64 ;;
  esac
fi

EMBEDDED=$(dirname "$(dirname "$(command -v swiftc)")")/lib/swift/embedded
# Per target: the Embedded stdlib's triple, the clang target that finds the C library's headers, the C compiler
# and its flags, and where libzstd and mbed TLS come from (Debian's multiarch archives, or built here from Debian's
# source packages).
SWIFT_EXTRA=() CFLAGS_T="" LDFLAGS_T="" ZSTD_FROM=multiarch STATIC="" MUSL_INC=""
case "$TARGET" in
  x86_64-linux-gnu)
    SWIFT_TRIPLE=x86_64-unknown-linux-gnu CLANG_TARGET=x86_64-unknown-linux-gnu CC_T=x86_64-linux-gnu-gcc ;;
  x86_64-linux-musl)
    SWIFT_TRIPLE=x86_64-unknown-linux-gnu CLANG_TARGET=x86_64-unknown-linux-musl CC_T=x86_64-linux-gnu-gcc
    MUSL_INC=/usr/include/x86_64-linux-musl STATIC=1 ZSTD_FROM=source ;;
  armv7-linux-gnueabihf)
    SWIFT_TRIPLE=armv7-none-none-eabi CLANG_TARGET=armv7-unknown-linux-gnueabihf CC_T=arm-linux-gnueabihf-gcc
    SWIFT_EXTRA=(-Xcc -mfloat-abi=hard) ;;
  armv7-linux-musleabihf)
    SWIFT_TRIPLE=armv7-none-none-eabi CLANG_TARGET=armv7-unknown-linux-musleabihf CC_T=arm-linux-gnueabihf-gcc
    SWIFT_EXTRA=(-Xcc -mfloat-abi=hard) MUSL_INC=/usr/include/arm-linux-musleabihf STATIC=1 ZSTD_FROM=source ;;
  aarch64-linux-gnu)
    SWIFT_TRIPLE=aarch64-none-none-elf CLANG_TARGET=aarch64-unknown-linux-gnu CC_T=aarch64-linux-gnu-gcc ;;
  aarch64-linux-musl)
    SWIFT_TRIPLE=aarch64-none-none-elf CLANG_TARGET=aarch64-unknown-linux-musl CC_T=aarch64-linux-gnu-gcc
    MUSL_INC=/usr/include/aarch64-linux-musl STATIC=1 ZSTD_FROM=source
    # GNU ld refuses the static link (a copy relocation against a protected symbol of the Swift objects); lld takes
    # it. The musl spec file names an interpreter, which a static executable must not carry.
    LDFLAGS_T="-fuse-ld=lld -Wl,--no-dynamic-linker" USE_LLD=1 ;;
  riscv64-linux-gnu)
    # The Embedded stdlib's triple defaults to the soft-float ABI; Linux on RISC-V is lp64d.
    SWIFT_TRIPLE=riscv64-none-none-eabi CLANG_TARGET=riscv64-unknown-linux-gnu CC_T=riscv64-linux-gnu-gcc
    SWIFT_EXTRA=(-Xcc -march=rv64gc -Xcc -mabi=lp64d) ZSTD_FROM=source ;;
  *) echo "build-agent: unknown target '$TARGET' (see --help for the list)" >&2; exit 64 ;;
esac
GNU_TRIPLET=${CC_T%-gcc}

bash tools/setup.sh >/dev/null
if [ "$TARGET" != "$(uname -m)-linux-gnu" ] || [ -n "$STATIC" ]; then bash tools/setup-cross.sh; fi
command -v "$CC_T" >/dev/null || { echo "build-agent: no C compiler $CC_T for $TARGET (tools/setup-cross.sh installs it)" >&2; exit 1; }

B=$ROOT/.build-agent/$TARGET
rm -rf "$B/obj" "$B/mod"
mkdir -p "$B/obj" "$B/mod"

# The C side: musl builds use musl's headers and startup files through the spec file Debian's musl-dev ships.
CC_FLAGS=(-Os -g0 -ffunction-sections -fdata-sections)
if [ -n "$MUSL_INC" ]; then
  SPECS=/usr/lib/$(basename "$MUSL_INC")/musl-gcc.specs
  [ -f "$SPECS" ] || { echo "build-agent: no $SPECS (musl-dev for $TARGET; tools/setup-cross.sh installs it)" >&2; exit 1; }
  CC_FLAGS+=(-specs "$SPECS")
fi
cc_t() { "$CC_T" "${CC_FLAGS[@]}" "$@"; }

# libzstd and mbed TLS: Debian's archives for the glibc targets; for musl (and targets Debian 12 has no port for),
# compiled here from Debian's source packages with the target's compiler, once per target.
SRC=$ROOT/.build-agent/src
source_tree() {  # source_tree PACKAGE: the unpacked Debian source of PACKAGE (fetched once)
  local pkg=$1
  if ! ls -d "$SRC/$pkg"/*/ >/dev/null 2>&1; then
    mkdir -p "$SRC/$pkg"
    (cd "$SRC/$pkg" && apt-get source -qq "$pkg" >/dev/null 2>&1) || {
      echo "build-agent: 'apt-get source $pkg' failed (deb-src entries and dpkg-dev: tools/setup-cross.sh)" >&2; exit 1; }
  fi
  ls -d "$SRC/$pkg"/*/ | head -n 1
}
if [ "$ZSTD_FROM" = multiarch ]; then
  ZSTD_A=$("$CC_T" -print-file-name=libzstd.a)
  [ -f "$ZSTD_A" ] || { echo "build-agent: no libzstd.a for $TARGET (libzstd-dev for its architecture)" >&2; exit 1; }
  ZSTD_INC=/usr/include
  MBED_LIBS=()
  for l in mbedtls mbedx509 mbedcrypto; do
    a=$("$CC_T" -print-file-name=lib$l.a)
    [ -f "$a" ] || { echo "build-agent: no lib$l.a for $TARGET (libmbedtls-dev for its architecture)" >&2; exit 1; }
    MBED_LIBS+=("$a")
  done
  MBED_INC=/usr/include
else
  ZSTD_DIR=$ROOT/.build-agent/zstd-$TARGET
  if [ ! -f "$ZSTD_DIR/lib/libzstd.a" ]; then
    ZSRC=$(source_tree libzstd)
    rm -rf "$ZSTD_DIR" && mkdir -p "$ZSTD_DIR"
    cp -r "$ZSRC/lib" "$ZSTD_DIR/lib"
    # Compression and decompression only: no legacy formats, no dictionary builder, no threads.
    make -s -C "$ZSTD_DIR/lib" libzstd.a CC="$CC_T" \
      CFLAGS="${CC_FLAGS[*]}" ZSTD_LEGACY_SUPPORT=0 ZSTD_LIB_DICTBUILDER=0 ZSTD_LIB_DEPRECATED=0 \
      -j"$(nproc)" >/dev/null
  fi
  ZSTD_A=$ZSTD_DIR/lib/libzstd.a
  # The two public headers alone: lib/ also holds a module map of its own that the Swift importer would pick up.
  ZSTD_INC=$ZSTD_DIR/include
  mkdir -p "$ZSTD_INC" && cp "$ZSTD_DIR/lib/zstd.h" "$ZSTD_DIR/lib/zstd_errors.h" "$ZSTD_INC/"

  MBED_DIR=$ROOT/.build-agent/mbedtls-$TARGET
  if [ ! -f "$MBED_DIR/library/libmbedcrypto.a" ]; then
    MSRC=$(source_tree mbedtls)
    rm -rf "$MBED_DIR" && mkdir -p "$MBED_DIR"
    cp -r "$MSRC/include" "$MSRC/library" "$MSRC/3rdparty" "$MBED_DIR/"
    # Debian's configuration (its patches are applied), the static libraries only.
    make -s -C "$MBED_DIR/library" libmbedcrypto.a libmbedx509.a libmbedtls.a CC="$CC_T" AR="$GNU_TRIPLET-ar" \
      CFLAGS="${CC_FLAGS[*]} -I../include" -j"$(nproc)" >/dev/null
  fi
  MBED_LIBS=("$MBED_DIR/library/libmbedtls.a" "$MBED_DIR/library/libmbedx509.a" "$MBED_DIR/library/libmbedcrypto.a")
  MBED_INC=$MBED_DIR/include
fi

cc_t -I Sources/CFieldPlatform/include -c Sources/CFieldPlatform/platform.c -o "$B/obj/platform.o"
cc_t -I Sources/CFieldPlatform/include -c Sources/CFieldPlatform/embedded/runtime.c -o "$B/obj/runtime.o"
cc_t -I Sources/CFieldCRC/include -c Sources/CFieldCRC/crc32c.c -o "$B/obj/crc32c.o"
cc_t -I Sources/CFieldCRC/include -c Sources/CFieldCRC/hash64.c -o "$B/obj/hash64.o"
cc_t -I Sources/CFieldHTTP/include -I Sources/CFieldPlatform/include -I "$MBED_INC" -c Sources/CFieldHTTP/http.c -o "$B/obj/http.o"
cc_t -c Sources/fieldagent/main.c -o "$B/obj/main.o"

# The Swift side: Embedded mode, whole module, size-optimised, one object per module, in dependency order.
SWIFTC_FLAGS=(
  -target "$SWIFT_TRIPLE" -Xfrontend -clang-target -Xfrontend "$CLANG_TARGET" "${SWIFT_EXTRA[@]}"
  -enable-experimental-feature Embedded -wmo -Osize -parse-as-library
  -Xfrontend -function-sections -Xcc -ffunction-sections -Xcc -fdata-sections
  -I "$B/mod" -I Sources/CFieldPlatform/include -I Sources/CFieldCRC/include -I Sources/CFieldHTTP/include
  -I Sources/CZstd -Xcc -I"$ZSTD_INC"
)
[ -z "$MUSL_INC" ] || SWIFTC_FLAGS+=(-Xcc -nostdlibinc -Xcc -isystem -Xcc "$MUSL_INC")
swift_module() {
  local name=$1 dir=$2
  local files=()
  while IFS= read -r f; do files+=("$f"); done < <(find "$dir" -name '*.swift' | sort)
  swiftc "${SWIFTC_FLAGS[@]}" -module-name "$name" -emit-module -emit-module-path "$B/mod/$name.swiftmodule" \
    -c -o "$B/obj/$name.o" "${files[@]}" 2>&1 | grep -v '^$' || true
  [ -f "$B/obj/$name.o" ] || { echo "build-agent: $name did not compile for $TARGET" >&2; exit 1; }
}
swift_module FieldModel Sources/FieldModel
swift_module FieldSystem Sources/FieldSystem
swift_module FieldBundle Sources/FieldBundle
swift_module FieldLinux Backends/Linux
swift_module FieldSylixOS Backends/SylixOS
swift_module FieldBackends Sources/FieldBackends
swift_module FieldAgent Sources/FieldAgent

# The Unicode tables of the Embedded stdlib (String comparison and hashing). The armv7 archive is marked
# soft-float; it holds data only, so its attributes are dropped to let a hard-float link take it.
TABLES=$EMBEDDED/$SWIFT_TRIPLE/libswiftUnicodeDataTables.a
if [ "$SWIFT_TRIPLE" = armv7-none-none-eabi ]; then
  cp "$TABLES" "$B/obj/libswiftUnicodeDataTables.a"
  "$GNU_TRIPLET-objcopy" -R .ARM.attributes "$B/obj/libswiftUnicodeDataTables.a"
  TABLES=$B/obj/libswiftUnicodeDataTables.a
elif [ "$SWIFT_TRIPLE" = riscv64-none-none-eabi ]; then
  # RISC-V keeps the float ABI in each object's ELF header (e_flags); the tables are data, so their objects are
  # marked double-float (lp64d, RVC) like the rest of a Linux program.
  mkdir -p "$B/tables" && (cd "$B/tables" && rm -f ./*.o && "$GNU_TRIPLET-ar" x "$TABLES")
  python3 - "$B"/tables/*.o <<'PY'
import struct, sys
for path in sys.argv[1:]:
    with open(path, "r+b") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2, path  # ELF64
        flags = struct.unpack_from("<I", head, 48)[0]
        f.seek(48)
        f.write(struct.pack("<I", (flags & ~0x6) | 0x4 | 0x1))  # EF_RISCV_FLOAT_ABI_DOUBLE | EF_RISCV_RVC
PY
  rm -f "$B/obj/libswiftUnicodeDataTables.a"
  "$GNU_TRIPLET-ar" rcs "$B/obj/libswiftUnicodeDataTables.a" "$B"/tables/*.o
  TABLES=$B/obj/libswiftUnicodeDataTables.a
fi

# -static-libgcc: ARM's unwinding personality routines (referenced by C objects built with unwind tables) come from
# libgcc's archive instead of libgcc_s.so, which a device need not have.
LINK=(-o "$B/fieldagent" "$B"/obj/*.o "$ZSTD_A" "${MBED_LIBS[@]}" "$TABLES" -Wl,--gc-sections -static-libgcc -lm -lpthread)
if [ -n "$STATIC" ]; then LINK+=(-static); fi
if [ -n "${USE_LLD:-}" ]; then
  # The toolchain's lld, found by gcc under the name it looks for.
  mkdir -p "$B/lld" && ln -sfn "$(dirname "$(command -v swiftc)")/ld.lld" "$B/lld/ld.lld"
  LINK+=(-B"$B/lld")
fi
# shellcheck disable=SC2206
[ -z "$LDFLAGS_T" ] || LINK+=($LDFLAGS_T)
cc_t "${LINK[@]}"

mkdir -p "$OUT"
cp "$B/fieldagent" "$OUT/fieldagent.tmp"
[ -n "$KEEP" ] || "$GNU_TRIPLET-strip" "$OUT/fieldagent.tmp"
mv "$OUT/fieldagent.tmp" "$OUT/fieldagent"
echo "build-agent: $OUT/fieldagent for $TARGET, $(stat -c %s "$OUT/fieldagent") bytes: $(file -b "$OUT/fieldagent" | cut -d, -f1-2,4-5)"
