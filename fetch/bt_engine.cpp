// The C API of bt_engine.h over libtorrent-rasterbar 2.0. Settings follow what a mirror and a
// loopback test need: no queueing (every torrent active), several peers per IP, TCP only unless
// uTP is asked for, no DHT/LSD/UPnP unless asked, alerts for status, storage, errors and bans.
#include "bt_engine.h"
extern "C" {
#include "ferry/file.h"
}

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace lt = libtorrent;

struct bt_session {
    std::unique_ptr<lt::session> ses;
    std::vector<lt::torrent_handle> torrents;
    int port = 0;
    // resume data that arrived while waiting for something else
    std::vector<std::pair<int, std::vector<char>>> resume;
    std::vector<std::string> texts; // event texts alive until the next poll
};

static int fail(ferry_error *err, int code, const char *what, const std::string &why)
{
    return ferry_error_set(err, code, what, FERRY_NO_OFFSET, nullptr, "%s", why.c_str());
}

extern "C" int bt_session_new(const ferry_torrent_net *s, const char *listen_default,
                              bt_session **out, ferry_error *err)
{
    try {
        lt::settings_pack p;
        p.set_str(lt::settings_pack::listen_interfaces, s->listen ? s->listen : listen_default);
        p.set_bool(lt::settings_pack::enable_dht, s->dht != 0);
        p.set_bool(lt::settings_pack::enable_lsd, s->lsd != 0);
        p.set_bool(lt::settings_pack::enable_upnp, s->upnp != 0);
        p.set_bool(lt::settings_pack::enable_natpmp, s->upnp != 0);
        if (!s->dht) p.set_str(lt::settings_pack::dht_bootstrap_nodes, "");
        p.set_bool(lt::settings_pack::enable_outgoing_utp, s->utp != 0);
        p.set_bool(lt::settings_pack::enable_incoming_utp, s->utp != 0);
        p.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
        p.set_int(lt::settings_pack::alert_mask,
                  int(lt::alert_category::error | lt::alert_category::status |
                      lt::alert_category::storage | lt::alert_category::peer));
        // a mirror serves every torrent at once: no queue
        p.set_int(lt::settings_pack::active_downloads, -1);
        p.set_int(lt::settings_pack::active_seeds, -1);
        p.set_int(lt::settings_pack::active_limit, -1);
        p.set_int(lt::settings_pack::active_checking, 4);
        p.set_int(lt::settings_pack::unchoke_slots_limit, -1);
        p.set_int(lt::settings_pack::min_reconnect_time, 1);
        // a mirror takes many connections at once (libtorrent's default backlog is 5)
        p.set_int(lt::settings_pack::listen_queue_size, 128);
        p.set_int(lt::settings_pack::upload_rate_limit, int(s->upload_limit));
        p.set_int(lt::settings_pack::download_rate_limit, int(s->download_limit));
        p.set_str(lt::settings_pack::user_agent, "ferry/" FERRY_VERSION);
        p.set_str(lt::settings_pack::peer_fingerprint, "-FY0100-");
        auto *b = new bt_session;
        b->ses = std::make_unique<lt::session>(p);
        *out = b;
        return 0;
    } catch (const std::exception &e) {
        return fail(err, FERRY_EUNAVAIL, "BitTorrent session", e.what());
    }
}

extern "C" void bt_session_free(bt_session *s)
{
    if (!s) return;
    try { // the session's destructor waits for trackers: give it a short leash
        lt::settings_pack p;
        p.set_int(lt::settings_pack::stop_tracker_timeout, 1);
        s->ses->apply_settings(p);
    } catch (...) {
    }
    delete s;
}

static lt::torrent_handle *handle(bt_session *s, int id)
{
    if (id < 0 || size_t(id) >= s->torrents.size() || !s->torrents[size_t(id)].is_valid())
        return nullptr;
    return &s->torrents[size_t(id)];
}

extern "C" int bt_listen_port(bt_session *s)
{
    for (int i = 0; i < 50 && !s->port; i++) {
        try {
            if (s->ses->is_listening()) s->port = s->ses->listen_port();
        } catch (...) {
        }
        if (!s->port) s->ses->wait_for_alert(std::chrono::milliseconds(100));
    }
    return s->port;
}

static bool parse_endpoint(const char *hp, lt::tcp::endpoint &ep)
{
    std::string h(hp);
    size_t c = h.rfind(':');
    if (c == std::string::npos) return false;
    std::string host = h.substr(0, c);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    char *end;
    long port = std::strtol(h.c_str() + c + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) return false;
    lt::error_code ec;
    auto addr = lt::make_address(host, ec);
    if (ec) return false;
    ep = lt::tcp::endpoint(addr, static_cast<unsigned short>(port));
    return true;
}

extern "C" int bt_add(bt_session *s, const bt_add_opts *a, int *id, ferry_error *err)
{
    try {
        lt::add_torrent_params p;
        lt::error_code ec;
        if (a->resume && a->resume_len) {
            p = lt::read_resume_data(lt::span<const char>(reinterpret_cast<const char *>(a->resume),
                                                          long(a->resume_len)),
                                     ec);
            if (ec) p = lt::add_torrent_params();
        }
        if (a->torrent) {
            lt::load_torrent_limits lim;
            auto ti = std::make_shared<lt::torrent_info>(
                lt::span<const char>(reinterpret_cast<const char *>(a->torrent),
                                     long(a->torrent_len)),
                lim, lt::from_span);
            p.ti = ti;
        } else if (a->magnet && !p.ti) {
            lt::add_torrent_params m = lt::parse_magnet_uri(a->magnet, ec);
            if (ec)
                return fail(err, FERRY_EMALFORMED, a->magnet, "bad magnet link: " + ec.message());
            if (!p.info_hashes.has_v1() && !p.info_hashes.has_v2()) {
                p = std::move(m);
            } else {
                p.peers.insert(p.peers.end(), m.peers.begin(), m.peers.end());
                p.trackers = m.trackers;
                p.url_seeds = m.url_seeds;
            }
        }
        p.save_path = a->save_path;
        p.flags &= ~(lt::torrent_flags::paused | lt::torrent_flags::auto_managed);
        if (a->seed_mode) p.flags |= lt::torrent_flags::seed_mode;
        if (a->dont_download) p.flags |= lt::torrent_flags::default_dont_download;
        for (size_t i = 0; i < a->npeers; i++) {
            lt::tcp::endpoint ep;
            if (!parse_endpoint(a->peers[i], ep))
                return fail(err, FERRY_EUSAGE, a->peers[i], "not a HOST:PORT peer address");
            p.peers.push_back(ep);
        }
        for (size_t i = 0; i < a->nweb_seeds; i++) p.url_seeds.push_back(a->web_seeds[i]);
        lt::torrent_handle h = s->ses->add_torrent(std::move(p), ec);
        if (ec) return fail(err, FERRY_EMALFORMED, "torrent", ec.message());
        s->torrents.push_back(h);
        *id = int(s->torrents.size() - 1);
        return 0;
    } catch (const lt::system_error &e) {
        return fail(err, FERRY_EMALFORMED, "torrent", e.code().message());
    } catch (const std::exception &e) {
        return fail(err, FERRY_EMALFORMED, "torrent", e.what());
    }
}

extern "C" int bt_remove(bt_session *s, int id)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        s->ses->remove_torrent(*h);
    } catch (...) {
    }
    *h = lt::torrent_handle();
    return 0;
}

extern "C" int bt_status(bt_session *s, int id, bt_stat *st)
{
    std::memset(st, 0, sizeof(*st));
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        lt::torrent_status t = h->status();
        st->has_metadata = t.has_metadata;
        st->seeding = t.is_seeding;
        st->finished = t.is_finished;
        st->checking = t.state == lt::torrent_status::checking_files ||
                       t.state == lt::torrent_status::checking_resume_data;
        st->paused = bool(t.flags & lt::torrent_flags::paused);
        st->done = uint64_t(t.total_wanted_done);
        st->wanted = uint64_t(t.total_wanted);
        st->total = uint64_t(t.total);
        st->downloaded = uint64_t(t.total_payload_download);
        st->uploaded = uint64_t(t.total_payload_upload);
        st->download_rate = t.download_payload_rate;
        st->upload_rate = t.upload_payload_rate;
        st->peers = t.num_peers;
        st->seeds = t.num_seeds;
        if (t.errc) {
            std::string m = t.errc.message();
            if (int(t.error_file) >= 0) m += " (file " + std::to_string(int(t.error_file)) + ")";
            std::snprintf(st->error, sizeof(st->error), "%s", m.c_str());
        }
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_num_files(bt_session *s, int id)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        auto ti = h->torrent_file();
        return ti ? ti->num_files() : -1;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_file_info(bt_session *s, int id, int i, char *path, size_t n, uint64_t *size,
                            int *pad)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        auto ti = h->torrent_file();
        if (!ti || i < 0 || i >= ti->num_files()) return -1;
        const lt::file_storage &fs = ti->files();
        lt::file_index_t f(i);
        std::snprintf(path, n, "%s", fs.file_path(f).c_str());
        *size = uint64_t(fs.file_size(f));
        *pad = fs.pad_file_at(f);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_file_progress(bt_session *s, int id, uint64_t *bytes, size_t n)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        std::vector<std::int64_t> v = h->file_progress(lt::torrent_handle::piece_granularity);
        for (size_t i = 0; i < n; i++) bytes[i] = i < v.size() ? uint64_t(v[i]) : 0;
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_set_priorities(bt_session *s, int id, const uint8_t *prio, size_t n)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        std::vector<lt::download_priority_t> v;
        for (size_t i = 0; i < n; i++) v.push_back(lt::download_priority_t(prio[i]));
        h->prioritize_files(v);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_info_section(bt_session *s, int id, uint8_t **buf, size_t *len)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return -1;
    try {
        auto ti = h->torrent_file();
        if (!ti || !ti->is_valid()) return -1;
        lt::span<const char> info = ti->info_section();
        size_t n = size_t(info.size());
        uint8_t *p = static_cast<uint8_t *>(std::malloc(n + 8));
        if (!p) return -1;
        std::memcpy(p, "d4:info", 7);
        std::memcpy(p + 7, info.data(), n);
        p[7 + n] = 'e';
        *buf = p, *len = n + 8;
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int bt_connect_peer(bt_session *s, int id, const char *host_port)
{
    lt::torrent_handle *h = handle(s, id);
    lt::tcp::endpoint ep;
    if (!h || !parse_endpoint(host_port, ep)) return -1;
    try {
        h->connect_peer(ep);
        return 0;
    } catch (...) {
        return -1;
    }
}

static int index_of(bt_session *s, const lt::torrent_handle &h)
{
    for (size_t i = 0; i < s->torrents.size(); i++)
        if (s->torrents[i] == h) return int(i);
    return -1;
}

static void dispatch(bt_session *s, lt::alert *a, void (*cb)(void *, const bt_event *), void *ctx)
{
    bt_event e{};
    e.id = -1;
    if (auto *r = lt::alert_cast<lt::save_resume_data_alert>(a)) {
        std::vector<char> buf = lt::write_resume_data_buf(r->params);
        s->resume.emplace_back(index_of(s, r->handle), std::move(buf));
        return;
    }
    if (auto *r = lt::alert_cast<lt::save_resume_data_failed_alert>(a)) {
        s->resume.emplace_back(index_of(s, r->handle), std::vector<char>());
        return;
    }
    if (!cb) return;
    if (auto *t = lt::alert_cast<lt::torrent_alert>(a)) e.id = index_of(s, t->handle);
    if (lt::alert_cast<lt::metadata_received_alert>(a))
        e.kind = BT_EV_METADATA;
    else if (lt::alert_cast<lt::torrent_finished_alert>(a))
        e.kind = BT_EV_FINISHED;
    else if (lt::alert_cast<lt::torrent_checked_alert>(a))
        e.kind = BT_EV_CHECKED;
    else if (auto *f = lt::alert_cast<lt::file_completed_alert>(a)) {
        e.kind = BT_EV_FILE_DONE;
        e.index = int(f->index);
    } else if (auto *h = lt::alert_cast<lt::hash_failed_alert>(a)) {
        e.kind = BT_EV_HASH_FAILED;
        e.index = int(h->piece_index);
    } else if (lt::alert_cast<lt::peer_ban_alert>(a)) {
        e.kind = BT_EV_PEER_BANNED;
    } else if (lt::alert_cast<lt::url_seed_alert>(a)) {
        e.kind = BT_EV_WEB_SEED;
    } else if (lt::alert_cast<lt::torrent_error_alert>(a) ||
               lt::alert_cast<lt::file_error_alert>(a)) {
        e.kind = BT_EV_ERROR;
    } else
        return;
    s->texts.push_back(a->message());
    e.text = s->texts.back().c_str();
    cb(ctx, &e);
}

extern "C" void bt_poll(bt_session *s, int timeout_ms, void (*cb)(void *, const bt_event *),
                        void *ctx)
{
    try {
        s->texts.clear();
        if (timeout_ms > 0) s->ses->wait_for_alert(std::chrono::milliseconds(timeout_ms));
        std::vector<lt::alert *> alerts;
        s->ses->pop_alerts(&alerts);
        for (lt::alert *a : alerts) dispatch(s, a, cb, ctx);
    } catch (...) {
    }
}

extern "C" int bt_save_resume(bt_session *s, int id, uint8_t **buf, size_t *len, int timeout_ms,
                              ferry_error *err)
{
    lt::torrent_handle *h = handle(s, id);
    if (!h) return fail(err, FERRY_EINTERNAL, "torrent", "no such torrent");
    try {
        h->save_resume_data(lt::torrent_handle::save_info_dict);
        auto start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(timeout_ms)) {
            for (size_t i = 0; i < s->resume.size(); i++) {
                if (s->resume[i].first != id) continue;
                std::vector<char> v = std::move(s->resume[i].second);
                s->resume.erase(s->resume.begin() + long(i));
                if (v.empty()) return fail(err, FERRY_EIO, "torrent", "no resume data");
                *buf = static_cast<uint8_t *>(std::malloc(v.size()));
                if (!*buf) return fail(err, FERRY_EINTERNAL, "torrent", "oom");
                std::memcpy(*buf, v.data(), v.size());
                *len = v.size();
                return 0;
            }
            bt_poll(s, 100, nullptr, nullptr);
        }
        return fail(err, FERRY_EIO, "torrent", "no resume data in time");
    } catch (const std::exception &e) {
        return fail(err, FERRY_EIO, "torrent", e.what());
    }
}

extern "C" int bt_save_resume_file(bt_session *s, int id, const char *path, int timeout_ms,
                                   ferry_error *err)
{
    uint8_t *buf = nullptr;
    size_t len = 0;
    int rc = bt_save_resume(s, id, &buf, &len, timeout_ms, err);
    if (!rc) rc = ferry_write_file(path, buf, len, 1, err);
    std::free(buf);
    return rc;
}
