// sluice — bodies of platform/file.hpp.
#pragma once

#include <sluice/platform/file.hpp>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

#if defined(SLUICE_POSIX)
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <time.h>
#endif
#elif defined(SLUICE_WINDOWS)
#include <sluice/platform/windows.hpp>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <sys/types.h>
#endif

namespace sluice {
namespace platform {

#if defined(SLUICE_POSIX)

SLUICE_DECL std::error_code read_file::open(const std::string& path) noexcept {
    close();
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return {errno, std::system_category()};
    fd_ = fd;
    return {};
}

SLUICE_DECL std::error_code read_file::status(file_status& out) const noexcept {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return {errno, std::system_category()};
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.mtime_sec = static_cast<std::int64_t>(st.st_mtime);
#if defined(__APPLE__)
    out.mtime_nsec = static_cast<std::uint32_t>(st.st_mtimespec.tv_nsec);
#else
    out.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
#endif
    out.regular = S_ISREG(st.st_mode);
    out.directory = S_ISDIR(st.st_mode);
    return {};
}

SLUICE_DECL long long read_file::read_at(void* buf, std::size_t n, std::uint64_t offset) noexcept {
    if (offset > static_cast<std::uint64_t>(LLONG_MAX)) return -1;
    ssize_t r;
    do {
        r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    } while (r < 0 && errno == EINTR);
    return static_cast<long long>(r);
}

SLUICE_DECL void read_file::close() noexcept {
    if (fd_ >= 0) ::close(fd_); // read-only: nothing to lose on a failed close
    fd_ = -1;
}

#if SLUICE_HAS_SENDFILE
SLUICE_DECL long long send_file(int s, int file_fd, std::uint64_t offset, std::size_t n) noexcept {
    if (offset > static_cast<std::uint64_t>(LLONG_MAX)) return -EINVAL;
    // sendfile has no MSG_NOSIGNAL: to a peer that is gone it raises SIGPIPE, which kills
    // the process by default. SIGPIPE is blocked for the call, and the one it raised (not
    // one that was already pending) is taken back before the mask is restored. Blocked
    // signals are per thread, so other threads are unaffected.
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    const bool masked = ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set) == 0;
    const bool was_pending = masked && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    off_t off = static_cast<off_t>(offset);
    ssize_t r;
    do {
        r = ::sendfile(s, file_fd, &off, n);
    } while (r < 0 && errno == EINTR);
    const int err = r < 0 ? errno : 0;
    if (masked) {
        // Raised with a partial count too (strace: 64 KiB sent, then SIGPIPE): looked for
        // whatever sendfile returned.
        sigemptyset(&pending);
        if (!was_pending && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            const struct timespec zero = {0, 0};
            while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
            }
        }
        ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    }
    return r < 0 ? -static_cast<long long>(err) : static_cast<long long>(r);
}
#endif

SLUICE_DECL std::error_code path_status(const std::string& path, file_status& out) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return {errno, std::system_category()};
    out = file_status{};
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.regular = S_ISREG(st.st_mode);
    out.directory = S_ISDIR(st.st_mode);
    return {};
}

SLUICE_DECL std::error_code real_path(const std::string& path, std::string& out) {
    char* r = ::realpath(path.c_str(), nullptr);
    if (!r) return {errno, std::system_category()};
    out.assign(r);
    std::free(r);
    return {};
}

#elif defined(SLUICE_WINDOWS)

namespace detail_file {
inline bool widen(const std::string& in, std::wstring& out) {
    out.clear();
    if (in.empty()) return true;
    const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(),
                                        static_cast<int>(in.size()), nullptr, 0);
    if (n <= 0) return false;
    out.resize(static_cast<std::size_t>(n));
    return ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, in.data(),
                                 static_cast<int>(in.size()), &out[0], n) == n;
}
inline bool narrow(const wchar_t* in, std::string& out) {
    out.clear();
    const int n = ::WideCharToMultiByte(CP_UTF8, 0, in, -1, nullptr, 0, nullptr, nullptr);
    if (n <= 0) return false;
    out.resize(static_cast<std::size_t>(n));
    if (::WideCharToMultiByte(CP_UTF8, 0, in, -1, &out[0], n, nullptr, nullptr) != n) return false;
    out.resize(static_cast<std::size_t>(n - 1)); // the terminator
    return true;
}
} // namespace detail_file

SLUICE_DECL std::error_code read_file::open(const std::string& path) noexcept {
    close();
    std::wstring w; // no try/catch: the library also builds without exceptions (and an
                    // allocation failure ends the program there, as everywhere else)
    if (!detail_file::widen(path, w)) return std::make_error_code(std::errc::invalid_argument);
    const int fd = ::_wopen(w.c_str(), _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    if (fd < 0) return {errno, std::generic_category()};
    fd_ = fd;
    return {};
}

SLUICE_DECL std::error_code read_file::status(file_status& out) const noexcept {
    struct __stat64 st;
    if (::_fstat64(fd_, &st) != 0) return {errno, std::generic_category()};
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.mtime_sec = static_cast<std::int64_t>(st.st_mtime);
    out.mtime_nsec = 0;
    out.regular = (st.st_mode & _S_IFMT) == _S_IFREG;
    out.directory = (st.st_mode & _S_IFMT) == _S_IFDIR;
    return {};
}

SLUICE_DECL long long read_file::read_at(void* buf, std::size_t n, std::uint64_t offset) noexcept {
    if (offset > static_cast<std::uint64_t>(LLONG_MAX)) return -1;
    if (::_lseeki64(fd_, static_cast<long long>(offset), SEEK_SET) < 0) return -1;
    if (n > static_cast<std::size_t>(INT_MAX)) n = static_cast<std::size_t>(INT_MAX);
    return ::_read(fd_, buf, static_cast<unsigned>(n));
}

SLUICE_DECL void read_file::close() noexcept {
    if (fd_ >= 0) ::_close(fd_);
    fd_ = -1;
}

SLUICE_DECL std::error_code path_status(const std::string& path, file_status& out) {
    std::wstring w;
    if (!detail_file::widen(path, w)) return std::make_error_code(std::errc::invalid_argument);
    struct __stat64 st;
    if (::_wstat64(w.c_str(), &st) != 0) return {errno, std::generic_category()};
    out = file_status{};
    out.size = static_cast<std::uint64_t>(st.st_size);
    out.regular = (st.st_mode & _S_IFMT) == _S_IFREG;
    out.directory = (st.st_mode & _S_IFMT) == _S_IFDIR;
    return {};
}

SLUICE_DECL std::error_code real_path(const std::string& path, std::string& out) {
    std::wstring w;
    if (!detail_file::widen(path, w)) return std::make_error_code(std::errc::invalid_argument);
    wchar_t* full = ::_wfullpath(nullptr, w.c_str(), 0);
    if (!full) return std::make_error_code(std::errc::filename_too_long);
    struct __stat64 st;
    const bool exists = ::_wstat64(full, &st) == 0;
    const bool ok = exists && detail_file::narrow(full, out);
    std::free(full);
    if (!exists) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (!ok) return std::make_error_code(std::errc::invalid_argument);
    for (char& c : out)
        if (c == '\\') c = '/';
    return {};
}

#endif

} // namespace platform
} // namespace sluice
