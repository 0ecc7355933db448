/* events._fastscan: the bulk read of a long log's evaluation-only lines, in C.
 *
 * scan(data, pos, seq, prev, evaluations, latest, first)
 *     -> (pos, last_start, seq, prev, time)
 *
 * Takes the complete lines of ``data`` (bytes) from offset ``pos`` while each one is a
 * commit that ``events.segments.Checked.records`` would pass AND that
 * ``lifecycle.fold.Overlay.absorb`` would take: a good frame and sha256, ``seq`` the
 * integer after ``seq``, ``prev`` (parsed and as ``events.codec.named_prev`` reads it)
 * equal to ``prev``, a string ``time``, and exactly one event that is an ``evaluated``
 * event with string ``model_id`` and ``dataset`` and a string, null or absent
 * ``dataset_digest``. Each such line is recorded as ``Overlay`` does, with the line itself
 * standing for its event: ``first.setdefault(model_id, (seq, 0))`` for a model new to
 * ``evaluations``, ``evaluations[model_id][f"{dataset}@{digest or '-'}"] = (line, seq,
 * time)`` and ``latest[model_id] = key``.
 *
 * It stops, without touching anything for it, at the first line that is not such a line
 * (or is incomplete): the caller reads that one the ordinary way, so this function can
 * only be stricter than the Python path, never looser. JSON is parsed by yyjson, the
 * parser that orjson itself uses, with the same strict defaults; a key given twice counts
 * its last value, as a parsed dict does. Returns where it stopped, where the last line it
 * took starts (-1 if none), and the new seq, prev and time (None if it took nothing).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <openssl/evp.h>

#include "_vendor/yyjson/yyjson.h"

#define MARK ",\"hash\":\""
#define MARK_LEN 9
#define HEX_LEN 64
#define TAIL_LEN (MARK_LEN + HEX_LEN + 3) /* events.codec.FRAME_TAIL */
#define PREV_KEY ",\"prev\":\""
#define PREV_LEN 9

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

/* The commit's envelope: seq, prev, time and its single evaluation. */
static int read_commit(yyjson_val *root, unsigned long long seq, const char *prev, Evaluation *out) {
    yyjson_val *vseq = NULL, *vprev = NULL, *vtime = NULL, *events = NULL, *key;
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
    if (prev != NULL) { /* NULL: a line verified before, read again for its fields */
        if (vseq == NULL || !yyjson_is_uint(vseq) || yyjson_get_uint(vseq) != seq)
            return 0;
        if (vprev == NULL || !yyjson_equals_strn(vprev, prev, HEX_LEN))
            return 0;
    }
    if (!is_string(vtime, &out->time, &out->time_len))
        return 0;
    if (events == NULL || !yyjson_is_arr(events) || yyjson_arr_size(events) != 1)
        return 0;
    return read_event(yyjson_arr_get_first(events), out);
}

/* The overlay's key: f"{dataset}@{digest or '-'}". */
static PyObject *overlay_key(const Evaluation *e) {
    size_t digest_len = e->digest_len ? e->digest_len : 1;
    char *buf = PyMem_Malloc(e->dataset_len + 1 + digest_len);
    if (buf == NULL)
        return PyErr_NoMemory();
    memcpy(buf, e->dataset, e->dataset_len);
    buf[e->dataset_len] = '@';
    memcpy(buf + e->dataset_len + 1, e->digest_len ? e->digest : "-", digest_len);
    PyObject *key = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)(e->dataset_len + 1 + digest_len), "strict");
    PyMem_Free(buf);
    return key;
}

/* Overlay._absorb_one for a verified line; 0 on success, -1 with an exception set.
 * ``first_seq`` is the seq of the model's first line in this call (``first`` for a new model). */
static int record(PyObject *evaluations, PyObject *first, const Evaluation *e, const char *line,
                  Py_ssize_t size, unsigned long long seq, unsigned long long first_seq,
                  PyObject *best) {
    int rc = -1;
    PyObject *model = NULL, *key = NULL, *entry = NULL, *line_bytes = NULL, *seq_obj = NULL;
    PyObject *time = NULL, *mark = NULL;
    if (!(model = PyUnicode_DecodeUTF8(e->model_id, (Py_ssize_t)e->model_len, "strict"))
        || !(key = overlay_key(e)) || !(line_bytes = PyBytes_FromStringAndSize(line, size))
        || !(seq_obj = PyLong_FromUnsignedLongLong(seq))
        || !(time = PyUnicode_DecodeUTF8(e->time, (Py_ssize_t)e->time_len, "strict"))
        || !(entry = PyTuple_Pack(3, line_bytes, seq_obj, time)))
        goto done;
    PyObject *per_model = PyDict_GetItemWithError(evaluations, model); /* borrowed */
    if (per_model == NULL) {
        if (PyErr_Occurred())
            goto done;
        PyObject *fresh = PyDict_New(), *place = Py_BuildValue("(Ki)", first_seq, 0);
        int bad = fresh == NULL || place == NULL || PyDict_SetItem(evaluations, model, fresh) < 0
                  || PyDict_SetItem(first, model, place) < 0;
        per_model = fresh;
        Py_XDECREF(fresh); /* the dict keeps it */
        Py_XDECREF(place);
        if (bad)
            goto done;
    }
    if (PyDict_SetItem(per_model, key, entry) < 0)
        goto done;
    /* latest[model] is the key of the model's last line: the pair seen last wins */
    PyObject *known = PyDict_GetItemWithError(best, model); /* borrowed: (seq, key) */
    if (known == NULL && PyErr_Occurred())
        goto done;
    if (known == NULL || PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(known, 0)) < seq) {
        if (!(mark = PyTuple_Pack(2, seq_obj, key)) || PyDict_SetItem(best, model, mark) < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(model);
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(line_bytes);
    Py_XDECREF(seq_obj);
    Py_XDECREF(time);
    Py_XDECREF(mark);
    return rc;
}

/* A (model, key) pair taken in this call: where its last line is, and its model's first. */
typedef struct {
    Py_ssize_t start, size;
    unsigned long long seq, first_seq;
} Pair;

typedef struct {
    Pair *pairs;
    Py_ssize_t count, capacity;
    PyObject *index;  /* identity bytes -> pair number */
    PyObject *models; /* model bytes -> seq of its first line in this call */
} Taken;

/* The pair's identity: the model's and the key's UTF-8 bytes, length-prefixed. */
static PyObject *identity(const Evaluation *e) {
    size_t digest_len = e->digest_len ? e->digest_len : 1;
    size_t key_len = e->dataset_len + 1 + digest_len;
    PyObject *id = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(sizeof(size_t) + e->model_len + key_len));
    if (id == NULL)
        return NULL;
    char *buf = PyBytes_AS_STRING(id);
    memcpy(buf, &e->model_len, sizeof(size_t));
    memcpy(buf + sizeof(size_t), e->model_id, e->model_len);
    buf += sizeof(size_t) + e->model_len;
    memcpy(buf, e->dataset, e->dataset_len);
    buf[e->dataset_len] = '@';
    memcpy(buf + e->dataset_len + 1, e->digest_len ? e->digest : "-", digest_len);
    return id;
}

/* Note a verified line: a new pair, or a later line of one already taken. */
static int note(Taken *t, const Evaluation *e, Py_ssize_t start, Py_ssize_t size, unsigned long long seq) {
    PyObject *id = identity(e);
    if (id == NULL)
        return -1;
    PyObject *at = PyDict_GetItemWithError(t->index, id); /* borrowed */
    int rc = -1;
    if (at != NULL) {
        Pair *pair = &t->pairs[PyLong_AsSsize_t(at)];
        pair->start = start, pair->size = size, pair->seq = seq;
        rc = 0;
    } else if (!PyErr_Occurred()) {
        rc = 0;
        if (t->count == t->capacity) {
            Py_ssize_t grown = t->capacity ? 2 * t->capacity : 64;
            Pair *more = PyMem_Realloc(t->pairs, (size_t)grown * sizeof(Pair));
            if (more == NULL) {
                PyErr_NoMemory();
                rc = -1;
            } else {
                t->pairs = more, t->capacity = grown;
            }
        }
        PyObject *number = rc == 0 ? PyLong_FromSsize_t(t->count) : NULL;
        PyObject *model = number ? PyBytes_FromStringAndSize(e->model_id, (Py_ssize_t)e->model_len) : NULL;
        PyObject *seen = model ? PyDict_GetItemWithError(t->models, model) : NULL; /* borrowed */
        PyObject *mine = (model && !seen && !PyErr_Occurred()) ? PyLong_FromUnsignedLongLong(seq) : NULL;
        if (number == NULL || model == NULL || (seen == NULL && (mine == NULL || PyDict_SetItem(t->models, model, mine) < 0))
            || PyDict_SetItem(t->index, id, number) < 0) {
            rc = -1;
        } else {
            t->pairs[t->count++] = (Pair){start, size, seq, PyLong_AsUnsignedLongLong(seen ? seen : mine)};
        }
        Py_XDECREF(number);
        Py_XDECREF(model);
        Py_XDECREF(mine);
    }
    Py_DECREF(id);
    return rc;
}

/* One complete line at data[pos:end] checked and parsed; the doc is the caller's to free. */
static yyjson_doc *verified(EVP_MD_CTX *ctx, const EVP_MD *sha256, const yyjson_alc *alc,
                            const char *line, Py_ssize_t size, unsigned long long seq,
                            const char *prev, Evaluation *out) {
    Py_ssize_t cut = size - TAIL_LEN;
    if (cut <= 0 || line[0] != '{' || memcmp(line + cut, MARK, MARK_LEN) != 0
        || memcmp(line + size - 3, "\"}\n", 3) != 0 || !hash_ok(ctx, sha256, line, cut)
        || !named_prev_ok(line, cut, prev))
        return NULL;
    yyjson_doc *doc = yyjson_read_opts((char *)line, (size_t)size, YYJSON_READ_NOFLAG, alc, NULL);
    if (doc != NULL && !read_commit(yyjson_doc_get_root(doc), seq, prev, out)) {
        yyjson_doc_free(doc);
        return NULL;
    }
    return doc;
}

/* Lay every pair taken in this call into the overlay, in the order the pairs first
 * appeared, each with its last line: the very dicts that a line-by-line absorb leaves. */
static int lay(const Taken *t, const char *buf, const yyjson_alc *alc, PyObject *evaluations,
               PyObject *latest, PyObject *first) {
    PyObject *best = PyDict_New(); /* model -> (seq, key) of its last line */
    if (best == NULL)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; i < t->count && rc == 0; i++) {
        const Pair *pair = &t->pairs[i];
        Evaluation e;
        yyjson_doc *doc = yyjson_read_opts((char *)buf + pair->start, (size_t)pair->size, YYJSON_READ_NOFLAG, alc, NULL);
        if (doc == NULL || !read_commit(yyjson_doc_get_root(doc), pair->seq, NULL, &e)) {
            PyErr_SetString(PyExc_RuntimeError, "scan: a line taken could not be read again");
            rc = -1;
        } else {
            rc = record(evaluations, first, &e, buf + pair->start, pair->size, pair->seq, pair->first_seq, best);
        }
        yyjson_doc_free(doc);
    }
    PyObject *model, *mark;
    Py_ssize_t at = 0;
    while (rc == 0 && PyDict_Next(best, &at, &model, &mark))
        rc = PyDict_SetItem(latest, model, PyTuple_GET_ITEM(mark, 1));
    Py_DECREF(best);
    return rc;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t pos, last_start = -1;
    unsigned long long seq;
    const char *prev_in;
    Py_ssize_t prev_len;
    PyObject *evaluations, *latest, *first, *time = NULL, *result = NULL;
    Taken taken = {NULL, 0, 0, PyDict_New(), PyDict_New()};
    if (!PyArg_ParseTuple(args, "y*nKs#O!O!O!", &data, &pos, &seq, &prev_in, &prev_len, &PyDict_Type,
                          &evaluations, &PyDict_Type, &latest, &PyDict_Type, &first)) {
        Py_XDECREF(taken.index);
        Py_XDECREF(taken.models);
        return NULL;
    }
    char prev[HEX_LEN + 1];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    yyjson_alc *alc = yyjson_alc_dyn_new();
    const char *buf = data.buf;
    if (ctx == NULL || sha256 == NULL || alc == NULL || taken.index == NULL || taken.models == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (prev_len != HEX_LEN || pos < 0 || pos > data.len) {
        PyErr_SetString(PyExc_ValueError, "scan: prev must be 64 characters, pos within data");
        goto done;
    }
    memcpy(prev, prev_in, HEX_LEN);
    prev[HEX_LEN] = 0;
    while (pos < data.len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', (size_t)(data.len - pos));
        if (nl == NULL)
            break;
        Py_ssize_t size = nl - line + 1;
        Evaluation e;
        yyjson_doc *doc = verified(ctx, sha256, alc, line, size, seq + 1, prev, &e);
        if (doc == NULL)
            break;
        int rc = note(&taken, &e, pos, size, seq + 1);
        yyjson_doc_free(doc);
        if (rc < 0)
            goto done;
        memcpy(prev, line + size - TAIL_LEN + MARK_LEN, HEX_LEN);
        seq += 1;
        last_start = pos;
        pos += size;
    }
    if (lay(&taken, buf, alc, evaluations, latest, first) < 0)
        goto done;
    if (last_start >= 0) { /* the time of the last line taken */
        Evaluation e;
        yyjson_doc *doc = yyjson_read_opts((char *)buf + last_start, (size_t)(pos - last_start), YYJSON_READ_NOFLAG, alc, NULL);
        if (doc != NULL && read_commit(yyjson_doc_get_root(doc), seq, NULL, &e))
            time = PyUnicode_DecodeUTF8(e.time, (Py_ssize_t)e.time_len, "strict");
        yyjson_doc_free(doc);
        if (time == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "scan: a line taken could not be read again");
            goto done;
        }
    }
    result = Py_BuildValue("(nnKs#O)", pos, last_start, seq, prev, (Py_ssize_t)HEX_LEN,
                           time == NULL ? Py_None : time);
done:
    Py_XDECREF(time);
    Py_XDECREF(taken.index);
    Py_XDECREF(taken.models);
    PyMem_Free(taken.pairs);
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

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
