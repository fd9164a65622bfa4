// libFuzzer target for sluice::http::parser.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       fuzz/http_parser.cpp -o fz && ./fz fuzz/corpus/http
// Byte 0 picks request/response, lenient flags and a split point; the rest is the
// stream. The stream is parsed whole, split in two, and (when short) one byte at
// a time, each feed from an exact-size heap copy so ASan sees any over-read; all
// runs must agree. Byte at a time, an error must come with the very byte that makes
// it, exactly where the bytes up to it, handed over at once, first fail with the same
// code. The URL helpers run on every parsed target.
#include <sluice/http.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace http = sluice::http;

namespace {

struct trace {
    std::string log;
    int err = 0;
    std::size_t err_at = 0; // bytes available when feed() reported the error
    bool operator==(const trace& o) const { return log == o.log && err == o.err; }
};

void check(bool ok) {
    if (!ok) __builtin_trap();
}

trace run(const std::uint8_t* data, std::size_t size, std::uint8_t cfg,
          const std::vector<std::size_t>& arrivals, bool eof = true) {
    trace t;
    std::string body;
    http::message_storage<16> m;
    http::limits lim;
    lim.lenient = cfg >> 2;
    lim.max_head = 2048;
    lim.max_body = 1 << 16;
    http::parser p(cfg & 1 ? http::parser::response : http::parser::request, m, lim);
    if (cfg & 2) p.response_to(http::verb::head);
    std::size_t off = 0, ai = 0, avail = arrivals.empty() ? size : arrivals[0];
    bool finished = false;
    for (int steps = 0; steps < 100000; ++steps) {
        std::size_t n = avail - off;
        std::unique_ptr<char[]> buf(new char[n ? n : 1]);
        if (n) std::memcpy(buf.get(), data + off, n);
        http::result r = p.feed(buf.get(), n);
        check(r.consumed <= n);
        if (r.ev == http::event::need_more) {
            off += r.consumed;
            if (avail < size) {
                avail = ++ai < arrivals.size() ? arrivals[ai] : size;
                continue;
            }
            if (!eof) break; // the peer is still there: no finish()
            finished = true;
            std::size_t rest = size - off;
            std::unique_ptr<char[]> tail(new char[rest ? rest : 1]);
            if (rest) std::memcpy(tail.get(), data + off, rest);
            r = p.finish(tail.get(), rest);
            if (r.ev == http::event::need_more) {
                if (!body.empty()) t.log += "B" + body + "\n";
                break;
            }
        }
        off += r.consumed;
        if (r.ev != http::event::body && !body.empty()) {
            t.log += "B" + body + "\n"; // pieces differ per split; joined they may not
            body.clear();
        }
        switch (r.ev) {
        case http::event::head: {
            t.log += "H" + std::string(m.method) + " " + std::string(m.target) + " " +
                     std::to_string(m.status) + std::to_string(m.flags) + "\n";
            for (const http::header& h : m) {
                check(h.name.data() >= buf.get() && h.name.data() + h.name.size() <= buf.get() + n);
                t.log += std::string(h.name) + ":" + std::string(h.value) + "\n";
            }
            if (!m.target.empty()) {
                http::target_parts tp;
                if (!http::split_target(m.target, tp) && !tp.path.empty()) {
                    std::string norm;
                    if (!http::normalize_path(tp.path, norm)) {
                        check(norm[0] == '/');
                        check(norm.find("/../") == std::string::npos);
                    }
                    for (const http::query_param& q : http::query_params(tp.query)) {
                        std::string dec;
                        (void)http::percent_decode(q.value, dec, true);
                    }
                }
            }
            break;
        }
        case http::event::body:
            check(!r.data.empty() && r.data.data() >= buf.get() &&
                  r.data.data() + r.data.size() <= buf.get() + n);
            body.append(r.data.data(), r.data.size());
            break;
        case http::event::done:
            t.log += "D" + std::to_string(m.num_trailers) + "\n";
            if (cfg & 2) p.response_to(http::verb::head);
            break;
        case http::event::upgrade:
            t.log += "U" + std::to_string(size - off) + "\n";
            return t;
        case http::event::error:
            check(static_cast<bool>(p.error()));
            t.err = p.error().value();
            t.err_at = finished ? 0 : avail;
            check(!p.error().message().empty());
            check(http::suggested_status(p.error()) >= 400);
            return t;
        default:
            break;
        }
    }
    return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::uint8_t cfg = data[0];
    ++data, --size;
    trace whole = run(data, size, cfg, {});
    std::size_t k = (static_cast<std::size_t>(cfg) * 131) % size;
    trace split = run(data, size, cfg, {k ? k : 1});
    check(whole.err == split.err);
    check(whole.log == split.log);
    if (size <= 256) {
        std::vector<std::size_t> bytes;
        for (std::size_t i = 1; i <= size; ++i) bytes.push_back(i);
        trace one = run(data, size, cfg, bytes);
        check(whole.err == one.err);
        check(whole.log == one.log);
        if (one.err_at) {
            check(run(data, one.err_at, cfg, {}, false).err == one.err);
            check(run(data, one.err_at - 1, cfg, {}, false).err == 0);
        }
    }
    return 0;
}
