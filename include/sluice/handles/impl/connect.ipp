// sluice — out-of-line bodies of sluice/handles/connect.hpp: compiled in every translation unit
// when header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/handles/connect.hpp>

namespace sluice::detail {

SLUICE_DECL std::vector<endpoint> happy_eyeballs_order(const std::vector<endpoint>& in) {
    std::vector<const endpoint*> v6, other;
    for (const endpoint& e : in) (e.family() == AF_INET6 ? v6 : other).push_back(&e);
    std::vector<endpoint> out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < v6.size() || i < other.size(); ++i) {
        if (i < v6.size()) out.push_back(*v6[i]);
        if (i < other.size()) out.push_back(*other[i]);
    }
    return out;
}

SLUICE_DECL connector* make_connector(stream_impl& s, io_handler done, const connect_options& o) {
    return new connector(s, std::move(done), o);
}

SLUICE_DECL void connector_start(connector* c, std::vector<endpoint> targets) {
    c->start(std::move(targets));
}

SLUICE_DECL void connector_lookup(connector* c, std::string host, std::uint16_t port) {
    c->lookup(std::move(host), port);
}
} // namespace sluice::detail
