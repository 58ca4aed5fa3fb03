#include "sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct bffn_sp {
    sentencepiece::SentencePieceProcessor processor;
};

static void set_error(char *err, size_t size, const std::string &message) {
    if (err == nullptr || size == 0) return;
    size_t n = message.size() < size - 1 ? message.size() : size - 1;
    std::memcpy(err, message.data(), n);
    err[n] = 0;
}

extern "C" bffn_sp *bffn_sp_load(const void *bytes, size_t count, char *err, size_t err_size) {
    try {
        auto *sp = new bffn_sp();
        auto status = sp->processor.LoadFromSerializedProto(std::string_view(static_cast<const char *>(bytes), count));
        if (!status.ok()) {
            set_error(err, err_size, status.ToString());
            delete sp;
            return nullptr;
        }
        return sp;
    } catch (const std::exception &e) {
        set_error(err, err_size, e.what());
    } catch (...) {
        set_error(err, err_size, "unknown C++ exception");
    }
    return nullptr;
}

extern "C" void bffn_sp_free(bffn_sp *sp) { delete sp; }

extern "C" int32_t bffn_sp_piece_count(const bffn_sp *sp) { return sp->processor.GetPieceSize(); }

extern "C" size_t bffn_sp_piece(const bffn_sp *sp, int32_t id, char *buf, size_t size) {
    if (id < 0 || id >= sp->processor.GetPieceSize()) return 0;
    const std::string &piece = sp->processor.IdToPiece(id);
    std::memcpy(buf, piece.data(), piece.size() < size ? piece.size() : size);
    return piece.size();
}

extern "C" int32_t bffn_sp_special_id(const bffn_sp *sp, int32_t which) {
    const auto &p = sp->processor;
    switch (which) {
    case 0: return p.unk_id();
    case 1: return p.bos_id();
    case 2: return p.eos_id();
    case 3: return p.pad_id();
    default: return -1;
    }
}

/* A malloc'd copy of n values converted to Out, followed by a zero (released with bffn_sp_release); null when
 * out of memory. */
template <class Out, class In> static Out *malloc_copy(const In *data, size_t n) {
    auto *buffer = static_cast<Out *>(std::malloc((n + 1) * sizeof(Out)));
    if (buffer == nullptr) return nullptr;
    for (size_t i = 0; i < n; i++) buffer[i] = static_cast<Out>(data[i]);
    buffer[n] = 0;
    return buffer;
}

/* Runs body (which hands over its result and returns an error message, empty on success) with every C++
 * exception turned into an error message; returns 0 on success, 1 with the message in err. */
template <class Body> static int guarded(char *err, size_t err_size, Body body) {
    try {
        std::string message = body();
        if (message.empty()) return 0;
        set_error(err, err_size, message);
    } catch (const std::exception &e) {
        set_error(err, err_size, e.what());
    } catch (...) {
        set_error(err, err_size, "unknown C++ exception");
    }
    return 1;
}

extern "C" int bffn_sp_encode(const bffn_sp *sp, const char *text, size_t count, int32_t **ids, size_t *id_count, char *err, size_t err_size) {
    return guarded(err, err_size, [&] {
        std::vector<int> out;
        auto status = sp->processor.Encode(std::string_view(text, count), &out);
        if (!status.ok()) return status.ToString();
        auto *buffer = malloc_copy<int32_t>(out.data(), out.size());
        if (buffer == nullptr) return std::string("out of memory");
        *ids = buffer;
        *id_count = out.size();
        return std::string();
    });
}

extern "C" int bffn_sp_decode(const bffn_sp *sp, const int32_t *ids, size_t id_count, char **text, size_t *count, char *err, size_t err_size) {
    return guarded(err, err_size, [&] {
        std::vector<int> in(ids, ids + id_count);
        std::string out;
        auto status = sp->processor.Decode(in, &out);
        if (!status.ok()) return status.ToString();
        auto *buffer = malloc_copy<char>(out.data(), out.size());
        if (buffer == nullptr) return std::string("out of memory");
        *text = buffer;
        *count = out.size();
        return std::string();
    });
}

extern "C" void bffn_sp_release(void *p) { std::free(p); }
