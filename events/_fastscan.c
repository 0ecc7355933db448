/* events._fastscan: the bulk read of a long log's evaluation-only lines, in C.
 *
 * scan(data, pos, seq, prev, pending) -> (pos, last_start, seq, prev, time)
 *
 * Takes the complete lines of ``data`` (bytes) from offset ``pos`` while each one is a
 * commit that ``events.segments.Checked.records`` would pass AND that
 * ``lifecycle.fold.Overlay.absorb`` would take: a good frame and sha256, ``seq`` the
 * integer after ``seq``, ``prev`` (parsed and as ``events.codec.named_prev`` reads it)
 * equal to ``prev``, a string ``time``, no nesting deeper than MAX_DEPTH, and one to
 * MAX_EVALUATIONS events, every one an ``evaluated`` event with string ``model_id`` and
 * ``dataset`` and a string, null or absent ``dataset_digest``. Each evaluation is noted in ``pending`` (a ``Pending``), which keeps
 * per (model, key) only the last one, with a copy of its line.
 *
 * It stops, without touching anything for it, at the first line that is not such a line
 * (or is incomplete): the caller reads that one the ordinary way, so this function can
 * only be stricter than the Python path, never looser. JSON is parsed by yyjson, the
 * parser that orjson itself uses, with the same strict defaults; a key given twice counts
 * its last value, as a parsed dict does. Returns where it stopped, where the last line it
 * took starts (-1 if none), and the new seq, prev and time (None if it took nothing).
 *
 * Pending.lay(evaluations, latest, first) lays what was noted into an overlay's dicts as
 * absorbing those commits one by one would: for a model new to ``evaluations``,
 * ``first[model_id] = (seq, place)`` of its first evaluation noted; ``evaluations[model_id]
 * [f"{dataset}@{digest or '-'}"] = (line, seq, time, place)`` (the line standing for its
 * event number ``place``), the keys in the order they first appeared; ``latest[model_id]``
 * the key of its last evaluation. Laying does not empty the Pending.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>

#include "_vendor/yyjson/yyjson.h"

#define MARK ",\"hash\":\""
#define MARK_LEN 9
#define HEX_LEN 64
#define TAIL_LEN (MARK_LEN + HEX_LEN + 3) /* events.codec.FRAME_TAIL */
#define PREV_KEY ",\"prev\":\""
#define PREV_LEN 9
/* Stricter than orjson, which refuses nesting deeper than 1024: a deeper line is left to
 * the Python read (yyjson itself has no limit). */
#define MAX_DEPTH 128
/* A commit of more evaluations is left to the Python read, which shares one parsed line
 * among them (a pair here keeps its own copy of its line). */
#define MAX_EVALUATIONS 16

typedef struct {
    const char *model_id, *dataset, *digest, *time;
    size_t model_len, dataset_len, digest_len, time_len;
} Evaluation;

/* A key compared with a literal, its length known at compile time. */
#define key_is(key, name) yyjson_equals_strn((key), (name), sizeof(name) - 1)

/* The line's own hash is right (hex, lower case, as hexdigest writes it). */
static int hash_ok(EVP_MD_CTX *ctx, const EVP_MD *sha256, const char *line, Py_ssize_t cut) {
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[32];
    unsigned int n = 0;
    if (!EVP_DigestInit_ex(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, line, (size_t)cut)
        || !EVP_DigestUpdate(ctx, "}", 1) || !EVP_DigestFinal_ex(ctx, digest, &n) || n != 32)
        return 0;
    const char *stated = line + cut + MARK_LEN;
    for (int i = 0; i < 32; i++) {
        if (stated[2 * i] != hex[digest[i] >> 4] || stated[2 * i + 1] != hex[digest[i] & 15])
            return 0;
    }
    return 1;
}

/* events.codec.named_prev(line) == prev: the last ',"prev":"' before the frame. */
static int named_prev_ok(const char *line, Py_ssize_t cut, const char *prev) {
    for (Py_ssize_t at = cut - PREV_LEN; at >= 0; at--) {
        if (line[at] == ',' && memcmp(line + at, PREV_KEY, PREV_LEN) == 0)
            return at + PREV_LEN + HEX_LEN <= cut + TAIL_LEN
                   && memcmp(line + at + PREV_LEN, prev, HEX_LEN) == 0;
    }
    return 0;
}

static int is_string(yyjson_val *v, const char **s, size_t *len) {
    if (!yyjson_is_str(v))
        return 0;
    *s = yyjson_get_str(v);
    *len = yyjson_get_len(v);
    return 1;
}

/* The one event: an evaluation with the fields the overlay keys it by. */
static int read_event(yyjson_val *event, Evaluation *out) {
    yyjson_val *type = NULL, *model = NULL, *dataset = NULL, *digest = NULL, *key;
    if (!yyjson_is_obj(event))
        return 0;
    yyjson_obj_iter it = yyjson_obj_iter_with(event);
    while ((key = yyjson_obj_iter_next(&it))) {
        yyjson_val *v = yyjson_obj_iter_get_val(key);
        if (key_is(key, "type")) type = v;
        else if (key_is(key, "model_id")) model = v;
        else if (key_is(key, "dataset")) dataset = v;
        else if (key_is(key, "dataset_digest")) digest = v;
    }
    out->digest_len = 0;
    if (digest != NULL && !yyjson_is_null(digest) && !is_string(digest, &out->digest, &out->digest_len))
        return 0;
    return type != NULL && key_is(type, "evaluated")
           && is_string(model, &out->model_id, &out->model_len)
           && is_string(dataset, &out->dataset, &out->dataset_len);
}

/* No container in ``v`` is nested deeper than ``left`` levels. */
static int shallow(yyjson_val *v, int left) {
    if (!yyjson_is_ctn(v))
        return 1;
    if (left == 0)
        return 0;
    yyjson_val *child;
    if (yyjson_is_arr(v)) {
        yyjson_arr_iter each = yyjson_arr_iter_with(v);
        while ((child = yyjson_arr_iter_next(&each)))
            if (!shallow(child, left - 1))
                return 0;
    } else {
        yyjson_obj_iter each = yyjson_obj_iter_with(v);
        while ((child = yyjson_obj_iter_next(&each)))
            if (!shallow(yyjson_obj_iter_get_val(child), left - 1))
                return 0;
    }
    return 1;
}

/* The commit's envelope: ``seq`` and ``prev`` checked (unless ``prev`` is NULL: a line
 * verified before, read again), a string ``time``, and one or more events, each of them
 * an evaluation (``Overlay.absorb`` takes all of a commit's events or none). */
static int read_commit(yyjson_val *root, unsigned long long seq, const char *prev, Evaluation *when,
                       yyjson_val **events_out) {
    yyjson_val *vseq = NULL, *vprev = NULL, *vtime = NULL, *events = NULL, *key, *event;
    if (!yyjson_is_obj(root))
        return 0;
    yyjson_obj_iter it = yyjson_obj_iter_with(root);
    while ((key = yyjson_obj_iter_next(&it))) {
        yyjson_val *v = yyjson_obj_iter_get_val(key);
        if (key_is(key, "seq")) vseq = v;
        else if (key_is(key, "prev")) vprev = v;
        else if (key_is(key, "time")) vtime = v;
        else if (key_is(key, "events")) events = v;
    }
    if (prev != NULL) {
        if (vseq == NULL || !yyjson_is_uint(vseq) || yyjson_get_uint(vseq) != seq)
            return 0;
        if (vprev == NULL || !yyjson_equals_strn(vprev, prev, HEX_LEN))
            return 0;
    }
    if (!is_string(vtime, &when->time, &when->time_len))
        return 0;
    if (events == NULL || !yyjson_is_arr(events) || yyjson_arr_size(events) == 0
        || yyjson_arr_size(events) > MAX_EVALUATIONS)
        return 0;
    yyjson_arr_iter each = yyjson_arr_iter_with(events);
    while ((event = yyjson_arr_iter_next(&each))) {
        Evaluation e;
        if (!read_event(event, &e))
            return 0;
    }
    *events_out = events;
    return 1;
}

/* A (model, key) pair taken: its last evaluation (a copy of the line, its seq, the event's
 * place in it) and where its model's first evaluation was. */
typedef struct {
    char *line;
    size_t line_len, line_cap;
    unsigned long long seq, first_seq;
    Py_ssize_t place, first_place;
    uint64_t hash;
    char *id; /* its identity (see ``identity``) */
    size_t id_len;
} Pair;

/* The pairs taken, in the order they first appeared, found by identity in an
 * open-addressing table: no Python object is made for a line whose pair was taken before
 * (nearly every line of a long log). */
typedef struct {
    Pair *pairs;
    Py_ssize_t count, capacity;
    Py_ssize_t *slots; /* pair number + 1; 0: empty */
    size_t mask;       /* the table's size - 1 (a power of two) */
    char *scratch;     /* the identity of the evaluation at hand */
    size_t scratch_len;
    PyObject *models;  /* model bytes -> (seq, place) of its first evaluation */
} Taken;

static void taken_free(Taken *t) {
    for (Py_ssize_t i = 0; i < t->count; i++) {
        PyMem_Free(t->pairs[i].id);
        PyMem_Free(t->pairs[i].line);
    }
    PyMem_Free(t->pairs);
    PyMem_Free(t->slots);
    PyMem_Free(t->scratch);
    Py_CLEAR(t->models);
    t->pairs = NULL, t->slots = NULL, t->scratch = NULL;
    t->count = t->capacity = 0, t->scratch_len = 0;
}

/* The pair's identity in ``t->scratch``: the model's length and UTF-8 bytes, then the
 * overlay key's, f"{dataset}@{digest or '-'}" (so "a@b" + "c" and "a" + "b@c" are one
 * key, as in Python). */
static size_t identity(Taken *t, const Evaluation *e) {
    size_t digest_len = e->digest_len ? e->digest_len : 1;
    size_t len = sizeof(size_t) + e->model_len + e->dataset_len + 1 + digest_len;
    if (len > t->scratch_len) {
        char *more = PyMem_Realloc(t->scratch, len);
        if (more == NULL) {
            PyErr_NoMemory();
            return 0;
        }
        t->scratch = more, t->scratch_len = len;
    }
    char *buf = t->scratch;
    memcpy(buf, &e->model_len, sizeof(size_t));
    memcpy(buf + sizeof(size_t), e->model_id, e->model_len);
    buf += sizeof(size_t) + e->model_len;
    memcpy(buf, e->dataset, e->dataset_len);
    buf[e->dataset_len] = '@';
    memcpy(buf + e->dataset_len + 1, e->digest_len ? e->digest : "-", digest_len);
    return len;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The slot that holds this identity, or the empty one where it would go. */
static size_t slot_of(const Taken *t, uint64_t hash, const char *id, size_t len) {
    size_t i = (size_t)hash & t->mask;
    for (Py_ssize_t at; (at = t->slots[i]) != 0; i = (i + 1) & t->mask) {
        const Pair *p = &t->pairs[at - 1];
        if (p->hash == hash && p->id_len == len && memcmp(p->id, id, len) == 0)
            break;
    }
    return i;
}

/* Room for one more pair: the array and (at half full) a table twice the size. */
static int make_room(Taken *t) {
    if (t->count == t->capacity) {
        Py_ssize_t grown = t->capacity ? 2 * t->capacity : 64;
        Pair *more = PyMem_Realloc(t->pairs, (size_t)grown * sizeof(Pair));
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->pairs = more, t->capacity = grown;
    }
    if (t->slots != NULL && (size_t)(t->count + 1) * 2 <= t->mask + 1)
        return 0;
    size_t size = t->slots == NULL ? 128 : 2 * (t->mask + 1);
    Py_ssize_t *slots = PyMem_Calloc(size, sizeof(Py_ssize_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(t->slots);
    t->slots = slots, t->mask = size - 1;
    for (Py_ssize_t n = 0; n < t->count; n++) {
        const Pair *p = &t->pairs[n];
        t->slots[slot_of(t, p->hash, p->id, p->id_len)] = n + 1;
    }
    return 0;
}

/* Where the model's first evaluation taken is (this one, if it is the first). */
static int first_of(Taken *t, const Evaluation *e, unsigned long long seq, Py_ssize_t place, Pair *pair) {
    PyObject *model = PyBytes_FromStringAndSize(e->model_id, (Py_ssize_t)e->model_len);
    if (model == NULL)
        return -1;
    PyObject *seen = PyDict_GetItemWithError(t->models, model); /* borrowed */
    int rc = 0;
    if (seen != NULL) {
        pair->first_seq = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(seen, 0));
        pair->first_place = PyLong_AsSsize_t(PyTuple_GET_ITEM(seen, 1));
    } else if (PyErr_Occurred()) {
        rc = -1;
    } else {
        PyObject *mine = Py_BuildValue("(Kn)", seq, place);
        rc = mine == NULL || PyDict_SetItem(t->models, model, mine) < 0 ? -1 : 0;
        Py_XDECREF(mine);
        pair->first_seq = seq, pair->first_place = place;
    }
    Py_DECREF(model);
    return rc;
}

/* The pair's last line is now this one (copied: the caller's buffer is reused). */
static int keep_line(Pair *pair, const char *line, size_t size) {
    if (size > pair->line_cap) {
        char *more = PyMem_Realloc(pair->line, size);
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        pair->line = more, pair->line_cap = size;
    }
    memcpy(pair->line, line, size);
    pair->line_len = size;
    return 0;
}

/* Note a verified evaluation: a new pair, or a later one of a pair already taken. */
static int note(Taken *t, const Evaluation *e, const char *line, size_t size, unsigned long long seq,
                Py_ssize_t place) {
    size_t len = identity(t, e);
    if (len == 0 || make_room(t) < 0)
        return -1;
    uint64_t hash = fnv1a(t->scratch, len);
    size_t slot = slot_of(t, hash, t->scratch, len);
    Pair *pair;
    if (t->slots[slot] != 0) {
        pair = &t->pairs[t->slots[slot] - 1];
    } else {
        pair = &t->pairs[t->count];
        *pair = (Pair){NULL, 0, 0, 0, 0, 0, 0, hash, PyMem_Malloc(len), len};
        if (pair->id == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (first_of(t, e, seq, place, pair) < 0) {
            PyMem_Free(pair->id);
            return -1;
        }
        memcpy(pair->id, t->scratch, len);
        t->slots[slot] = ++t->count;
    }
    pair->seq = seq, pair->place = place;
    return keep_line(pair, line, size);
}

/* One complete line checked and parsed; the doc is the caller's to free. */
static yyjson_doc *verified(EVP_MD_CTX *ctx, const EVP_MD *sha256, const yyjson_alc *alc,
                            const char *line, Py_ssize_t size, unsigned long long seq,
                            const char *prev, Evaluation *when, yyjson_val **events) {
    Py_ssize_t cut = size - TAIL_LEN;
    if (cut <= 0 || line[0] != '{' || memcmp(line + cut, MARK, MARK_LEN) != 0
        || memcmp(line + size - 3, "\"}\n", 3) != 0 || !hash_ok(ctx, sha256, line, cut)
        || !named_prev_ok(line, cut, prev))
        return NULL;
    yyjson_doc *doc = yyjson_read_opts((char *)line, (size_t)size, YYJSON_READ_NOFLAG, alc, NULL);
    if (doc != NULL && ((yyjson_doc_get_val_count(doc) > MAX_DEPTH && !shallow(yyjson_doc_get_root(doc), MAX_DEPTH))
                        || !read_commit(yyjson_doc_get_root(doc), seq, prev, when, events))) {
        yyjson_doc_free(doc);
        return NULL;
    }
    return doc;
}

/* The overlay entry of a pair: (line, seq, time, place), as ``Overlay.absorb`` would keep
 * (event, seq, time) with the line standing for its event. */
static PyObject *entry_of(const Pair *pair, const Evaluation *e) {
    PyObject *line = PyBytes_FromStringAndSize(pair->line, (Py_ssize_t)pair->line_len);
    PyObject *time = PyUnicode_DecodeUTF8(e->time, (Py_ssize_t)e->time_len, "strict");
    PyObject *entry = line && time ? Py_BuildValue("(OKOn)", line, pair->seq, time, pair->place) : NULL;
    Py_XDECREF(line);
    Py_XDECREF(time);
    return entry;
}

/* ``evaluations[model][key] = entry`` (``first[model]`` for a model new there). */
static int record(PyObject *evaluations, PyObject *first, PyObject *model, PyObject *key, PyObject *entry,
                  const Pair *pair) {
    PyObject *per_model = PyDict_GetItemWithError(evaluations, model); /* borrowed */
    if (per_model == NULL) {
        if (PyErr_Occurred())
            return -1;
        PyObject *fresh = PyDict_New(), *where = Py_BuildValue("(Kn)", pair->first_seq, pair->first_place);
        int bad = fresh == NULL || where == NULL || PyDict_SetItem(evaluations, model, fresh) < 0
                  || PyDict_SetItem(first, model, where) < 0;
        per_model = fresh;
        Py_XDECREF(fresh); /* the dict keeps it */
        Py_XDECREF(where);
        if (bad)
            return -1;
    }
    return PyDict_SetItem(per_model, key, entry);
}

/* One pair laid (its line read again for its time): its entry recorded, and ``best[model]`` ((seq, place, key) of the model's
 * last evaluation) moved on if this one is later. */
static int lay_pair(const Pair *pair, const yyjson_alc *alc, PyObject *evaluations, PyObject *first,
                    PyObject *best) {
    Evaluation when;
    yyjson_val *events;
    size_t model_len;
    int rc = -1;
    PyObject *model = NULL, *key = NULL, *entry = NULL, *mark = NULL;
    yyjson_doc *doc = yyjson_read_opts(pair->line, pair->line_len, YYJSON_READ_NOFLAG, alc, NULL);
    if (doc == NULL || !read_commit(yyjson_doc_get_root(doc), pair->seq, NULL, &when, &events)) {
        PyErr_SetString(PyExc_RuntimeError, "scan: a line taken could not be read again");
        goto done;
    }
    memcpy(&model_len, pair->id, sizeof(size_t)); /* the model and the key, from the identity */
    const char *model_at = pair->id + sizeof(size_t), *key_at = model_at + model_len;
    if (!(model = PyUnicode_DecodeUTF8(model_at, (Py_ssize_t)model_len, "strict"))
        || !(key = PyUnicode_DecodeUTF8(key_at, (Py_ssize_t)(pair->id + pair->id_len - key_at), "strict"))
        || !(entry = entry_of(pair, &when))
        || record(evaluations, first, model, key, entry, pair) < 0)
        goto done;
    PyObject *known = PyDict_GetItemWithError(best, model); /* borrowed */
    if (known == NULL && PyErr_Occurred())
        goto done;
    unsigned long long known_seq = known ? PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(known, 0)) : 0;
    Py_ssize_t known_place = known ? PyLong_AsSsize_t(PyTuple_GET_ITEM(known, 1)) : 0;
    if (known == NULL || known_seq < pair->seq || (known_seq == pair->seq && known_place < pair->place)) {
        if (!(mark = Py_BuildValue("(KnO)", pair->seq, pair->place, key)) || PyDict_SetItem(best, model, mark) < 0)
            goto done;
    }
    rc = 0;
done:
    yyjson_doc_free(doc);
    Py_XDECREF(model);
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(mark);
    return rc;
}

/* Lay every pair into the overlay, in the order the pairs first appeared, each with its
 * last evaluation: the very dicts that absorbing the lines one by one would leave. */
static int lay(const Taken *t, PyObject *evaluations, PyObject *latest, PyObject *first) {
    PyObject *best = PyDict_New();
    yyjson_alc *alc = yyjson_alc_dyn_new();
    int rc = best != NULL && alc != NULL ? 0 : -1;
    if (rc < 0)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < t->count && rc == 0; i++)
        rc = lay_pair(&t->pairs[i], alc, evaluations, first, best);
    PyObject *model, *mark;
    Py_ssize_t at = 0;
    while (rc == 0 && PyDict_Next(best, &at, &model, &mark))
        rc = PyDict_SetItem(latest, model, PyTuple_GET_ITEM(mark, 2));
    Py_XDECREF(best);
    if (alc != NULL)
        yyjson_alc_dyn_free(alc);
    return rc;
}

/* Pending: the evaluations taken by ``scan`` calls, not yet laid. */
typedef struct {
    PyObject_HEAD
    Taken taken;
} Pending;

static PyObject *pending_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (!PyArg_ParseTuple(args, ":Pending") || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Pending() takes no arguments");
        return NULL;
    }
    Pending *self = (Pending *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if ((self->taken.models = PyDict_New()) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void pending_dealloc(Pending *self) {
    taken_free(&self->taken);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t pending_len(Pending *self) { return self->taken.count; }

static PyObject *pending_lay(Pending *self, PyObject *args) {
    PyObject *evaluations, *latest, *first;
    if (!PyArg_ParseTuple(args, "O!O!O!:lay", &PyDict_Type, &evaluations, &PyDict_Type, &latest, &PyDict_Type,
                          &first))
        return NULL;
    if (lay(&self->taken, evaluations, latest, first) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef pending_methods[] = {
    {"lay", (PyCFunction)pending_lay, METH_VARARGS,
     "lay(evaluations, latest, first): lay the pairs taken into an overlay's dicts."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods pending_sequence = {.sq_length = (lenfunc)pending_len};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "events._fastscan.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Evaluations taken by scan(), kept per (model, data set) until laid; len(): the pairs.",
    .tp_new = pending_new,
    .tp_dealloc = (destructor)pending_dealloc,
    .tp_methods = pending_methods,
    .tp_as_sequence = &pending_sequence,
};

/* Note every evaluation of a verified line. */
static int note_line(Taken *t, yyjson_val *events, const char *line, Py_ssize_t size, unsigned long long seq) {
    yyjson_arr_iter each = yyjson_arr_iter_with(events);
    yyjson_val *event;
    Py_ssize_t place = 0;
    while ((event = yyjson_arr_iter_next(&each))) {
        Evaluation e;
        read_event(event, &e); /* read_commit checked it */
        if (note(t, &e, line, (size_t)size, seq, place++) < 0)
            return -1;
    }
    return 0;
}

/* The time of the line at ``line`` (taken before), as a str. */
static PyObject *time_of(const char *line, Py_ssize_t size, unsigned long long seq) {
    Evaluation when;
    yyjson_val *events;
    PyObject *time = NULL;
    yyjson_doc *doc = yyjson_read((char *)line, (size_t)size, YYJSON_READ_NOFLAG);
    if (doc != NULL && read_commit(yyjson_doc_get_root(doc), seq, NULL, &when, &events))
        time = PyUnicode_DecodeUTF8(when.time, (Py_ssize_t)when.time_len, "strict");
    yyjson_doc_free(doc);
    if (time == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "scan: a line taken could not be read again");
    return time;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    Py_ssize_t pos, last_start = -1;
    unsigned long long seq;
    const char *prev_in;
    Py_ssize_t prev_len;
    Pending *pending;
    PyObject *seq_in, *time = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nO!s#O!:scan", &data, &pos, &PyLong_Type, &seq_in, &prev_in, &prev_len,
                          &PendingType, &pending))
        return NULL;
    seq = PyLong_AsUnsignedLongLong(seq_in);
    if (seq == (unsigned long long)-1 && PyErr_Occurred()) { /* negative or past 2**64 - 1 */
        PyErr_Clear();
        seq = ULLONG_MAX; /* so nothing is taken: the next seq would not fit */
    }
    char prev[HEX_LEN + 1];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    yyjson_alc *alc = yyjson_alc_dyn_new();
    const char *buf = data.buf;
    if (ctx == NULL || sha256 == NULL || alc == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (prev_len != HEX_LEN || pos < 0 || pos > data.len) {
        PyErr_SetString(PyExc_ValueError, "scan: prev must be 64 characters, pos within data");
        goto done;
    }
    memcpy(prev, prev_in, HEX_LEN);
    prev[HEX_LEN] = 0;
    while (pos < data.len && seq < ULLONG_MAX) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', (size_t)(data.len - pos));
        if (nl == NULL)
            break;
        Py_ssize_t size = nl - line + 1;
        Evaluation when;
        yyjson_val *events;
        yyjson_doc *doc = verified(ctx, sha256, alc, line, size, seq + 1, prev, &when, &events);
        if (doc == NULL)
            break;
        int rc = note_line(&pending->taken, events, line, size, seq + 1);
        yyjson_doc_free(doc);
        if (rc < 0)
            goto done;
        memcpy(prev, line + size - TAIL_LEN + MARK_LEN, HEX_LEN);
        seq += 1;
        last_start = pos;
        pos += size;
    }
    if (last_start >= 0 && (time = time_of(buf + last_start, pos - last_start, seq)) == NULL)
        goto done;
    if (last_start < 0) /* nothing taken: seq as given (it may not fit 64 bits) */
        result = Py_BuildValue("(nnOs#O)", pos, last_start, seq_in, prev, (Py_ssize_t)HEX_LEN, Py_None);
    else
        result = Py_BuildValue("(nnKs#O)", pos, last_start, seq, prev, (Py_ssize_t)HEX_LEN, time);
done:
    Py_XDECREF(time);
    if (alc != NULL)
        yyjson_alc_dyn_free(alc);
    EVP_MD_free(sha256);
    EVP_MD_CTX_free(ctx);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Take the evaluation-only lines of a log chunk (see the module's C source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastscan(void) {
    if (PyType_Ready(&PendingType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "Pending", (PyObject *)&PendingType) < 0)
        Py_CLEAR(m);
    return m;
}
