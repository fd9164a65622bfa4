// sluice — topics: which connections of a server listen to which names (rooms, channels).
//
// A topic exists while it has subscribers. Each (topic, connection) pair is one small
// `subscription` record that sits in two places at once: in the topic's array of
// subscribers (at `index`, so leaving is a swap with the last entry, O(1)) and in the
// connection's own singly linked list (so a closing connection leaves all its topics
// without searching for them). Publishing walks one topic's array: its cost is linear in
// that topic's subscribers and independent of how many topics or connections exist.
//
// Topic names are looked up by string_view without building a std::string: the map's key
// views the name stored in the entry itself, which never moves (entries are allocated
// once, and freed when their last subscriber leaves).
#pragma once

#include <sluice/config.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice {
namespace ws {
namespace detail {

class conn_impl;
struct topic_entry;

struct subscription {
    topic_entry* topic;
    conn_impl* conn;
    std::size_t index;         // position in topic->subscribers
    subscription* next_of_conn; // the connection's next subscription
};

struct topic_entry {
    std::string name;
    std::vector<subscription*> subscribers;
};

class topic_table {
  public:
    topic_table() = default;
    topic_table(const topic_table&) = delete;
    topic_table& operator=(const topic_table&) = delete;
    // Connections leave their topics when they end, and hold the table's owner alive
    // until then, so by now it is empty; whatever is left is freed anyway.
    SLUICE_DECL ~topic_table();

    SLUICE_DECL topic_entry* find(std::string_view name) const noexcept;
    // Adds c to `name` (creating the topic); the caller checked that c is not in it yet.
    SLUICE_DECL subscription* add(conn_impl* c, std::string_view name);
    // Takes s out of its topic (freeing the topic when it empties) and frees s.
    SLUICE_DECL void remove(subscription* s) noexcept;

    std::size_t size() const noexcept { return map_.size(); }

    // The connections a publish goes to (each counted while it is walked: see publish_to),
    // reused between publishes; a publish from inside another takes a vector of its own.
    std::vector<conn_impl*> scratch;
    bool scratch_busy = false;

  private:
    std::unordered_map<std::string_view, std::unique_ptr<topic_entry>> map_;
};

} // namespace detail
} // namespace ws
} // namespace sluice

#if SLUICE_COMPILE_BODIES
#include <sluice/ws/impl/topics.ipp>
#endif
