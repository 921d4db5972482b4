// LD_PRELOAD shim for running aarch64 binaries under qemu-user 7.x, which passes the host's x86
// /proc/cpuinfo through to the guest. ONNX Runtime's cpuinfo parses it at load time, finds no ARM
// processor, and crashes (SIGSEGV before main). This shim answers opens of /proc/cpuinfo with an
// ARM description (one entry per configured CPU, so it agrees with sysfs): a Neoverse-N1 (ARMv8.2,
// dot product), or with EDGEREASON_CPUINFO=cortex-a72 a Cortex-A72 (ARMv8.0, Raspberry Pi 4), to
// pair with `qemu -cpu cortex-a72`: a description claiming more than the emulated CPU has makes the
// libraries pick kernels it cannot run (SIGILL). Used only by the tests, never on a device:
//   qemu-aarch64-static -L /usr/aarch64-linux-gnu -E LD_PRELOAD=$PWD/lib/libqemu_cpuinfo_shim.so ...
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool is_cpuinfo(const char* path) { return path && std::strcmp(path, "/proc/cpuinfo") == 0; }

const char* cpu_description() {
  const char* which = getenv("EDGEREASON_CPUINFO");
  if (which && std::strcmp(which, "cortex-a72") == 0)
    return "\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
           "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n";
  return "\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
         "cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\n"
         "CPU part\t: 0xd0c\nCPU revision\t: 1\n\n";
}

int fake_cpuinfo_fd() {
  std::string text;
  long cpus = sysconf(_SC_NPROCESSORS_CONF);
  for (long i = 0; i < (cpus > 0 ? cpus : 1); ++i) text += "processor\t: " + std::to_string(i) + cpu_description();
  int fd = memfd_create("cpuinfo", 0);
  if (fd < 0) return -1;
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

template <typename F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

mode_t mode_arg(int flags, va_list args) { return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0; }

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  if (is_cpuinfo(path)) return fake_cpuinfo_fd();
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  if (is_cpuinfo(path)) return fake_cpuinfo_fd();
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return next<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
}

int openat(int dir, const char* path, int flags, ...) {
  if (is_cpuinfo(path)) return fake_cpuinfo_fd();
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  return next<int (*)(int, const char*, int, ...)>("openat")(dir, path, flags, mode);
}

FILE* fopen(const char* path, const char* mode) {
  if (is_cpuinfo(path)) {
    int fd = fake_cpuinfo_fd();
    return fd < 0 ? nullptr : fdopen(fd, "r");
  }
  return next<FILE* (*)(const char*, const char*)>("fopen")(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  if (is_cpuinfo(path)) {
    int fd = fake_cpuinfo_fd();
    return fd < 0 ? nullptr : fdopen(fd, "r");
  }
  return next<FILE* (*)(const char*, const char*)>("fopen64")(path, mode);
}

}  // extern "C"
