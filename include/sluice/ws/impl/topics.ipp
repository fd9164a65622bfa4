// sluice — out-of-line bodies of sluice/ws/topics.hpp: compiled in every translation unit when
// header-only, only in the SLUICE_IMPLEMENTATION one under SLUICE_SEPARATE_COMPILATION.
#pragma once

#include <sluice/ws/topics.hpp>

namespace sluice {
namespace ws {
namespace detail {

SLUICE_DECL topic_table::~topic_table() {
    for (auto& kv : map_)
        for (subscription* s : kv.second->subscribers) delete s;
}

SLUICE_DECL topic_entry* topic_table::find(std::string_view name) const noexcept {
    auto it = map_.find(name);
    return it == map_.end() ? nullptr : it->second.get();
}

SLUICE_DECL subscription* topic_table::add(conn_impl* c, std::string_view name) {
    topic_entry* t = find(name);
    if (!t) {
        std::unique_ptr<topic_entry> e(new topic_entry());
        e->name.assign(name.data(), name.size());
        t = e.get();
        map_.emplace(std::string_view(t->name), std::move(e)); // the key views t->name
    }
    auto* s = new subscription{t, c, t->subscribers.size(), nullptr};
    t->subscribers.push_back(s);
    return s;
}

SLUICE_DECL void topic_table::remove(subscription* s) noexcept {
    topic_entry* t = s->topic;
    subscription* last = t->subscribers.back();
    t->subscribers[s->index] = last;
    last->index = s->index;
    t->subscribers.pop_back();
    delete s;
    if (t->subscribers.empty()) {
        auto it = map_.find(std::string_view(t->name));
        map_.erase(it); // frees t, whose name the key views: erased by position, not by key
    }
}

} // namespace detail
} // namespace ws
} // namespace sluice
