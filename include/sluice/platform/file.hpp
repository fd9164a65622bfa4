// sluice — read-only regular files for http::static_files: resolve a path to its real
// form, open, stat, and read at an offset. The only place outside the socket layer that
// includes OS file headers, so the HTTP layer above stays free of #ifdefs.
//
// POSIX: realpath(3), open(2) with O_CLOEXEC, fstat(2), pread(2).
// Windows: UTF-8 paths converted to UTF-16 for the wide CRT calls (_wopen, _wfullpath,
// _fstat64); reads by _lseeki64 + _read, as a handle is never shared between threads.
// _wfullpath only normalises the text of a path: it does not follow symbolic links or
// junctions, so on Windows a link inside the root that points outside is not detected.
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace sluice {
namespace platform {

struct file_status {
    std::uint64_t size = 0;
    std::int64_t mtime_sec = 0; // seconds since the Unix epoch
    std::uint32_t mtime_nsec = 0;
    bool regular = false;
    bool directory = false;
};

// A file opened for reading. Move-only; closes on destruction.
class read_file {
  public:
    read_file() noexcept = default;
    read_file(read_file&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    read_file& operator=(read_file&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    read_file(const read_file&) = delete;
    read_file& operator=(const read_file&) = delete;
    ~read_file() { close(); }

    // Opens `path` (UTF-8) read-only.
    SLUICE_DECL std::error_code open(const std::string& path) noexcept;
    SLUICE_DECL std::error_code status(file_status& out) const noexcept;
    // Up to `n` bytes at `offset`: the count read (0 at the end), or -1 on an error.
    SLUICE_DECL long long read_at(void* buf, std::size_t n, std::uint64_t offset) noexcept;
    SLUICE_DECL void close() noexcept;
    bool is_open() const noexcept { return fd_ >= 0; }
    int native() const noexcept { return fd_; }

  private:
    int fd_ = -1;
};

// sendfile(2): Linux only (elsewhere the callers read and write). Up to `n` bytes of the
// file `file_fd` from `offset` to the non-blocking socket `s`: the count the kernel took,
// or a negated errno (-EAGAIN when the socket is full).
#if defined(__linux__)
#define SLUICE_HAS_SENDFILE 1
SLUICE_DECL long long send_file(int s, int file_fd, std::uint64_t offset, std::size_t n) noexcept;
#else
#define SLUICE_HAS_SENDFILE 0
#endif

// What `path` names (following links): a directory cannot be opened as a file on
// Windows, so directories are told apart before open().
SLUICE_DECL std::error_code path_status(const std::string& path, file_status& out);

// The absolute path with every symbolic link, "." and ".." resolved (see the top of the
// file for Windows); '/' separators on every system. An error when it does not exist.
SLUICE_DECL std::error_code real_path(const std::string& path, std::string& out);

} // namespace platform
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/platform/impl/file.ipp>
#endif
