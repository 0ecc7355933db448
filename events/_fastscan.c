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
    if (vseq == NULL || !yyjson_is_uint(vseq) || yyjson_get_uint(vseq) != seq)
        return 0;
    if (vprev == NULL || !yyjson_equals_strn(vprev, prev, HEX_LEN))
        return 0;
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

/* Overlay._absorb_one for a verified line; 0 on success, -1 with an exception set. */
static int record(PyObject *evaluations, PyObject *latest, PyObject *first, const Evaluation *e,
                  const char *line, Py_ssize_t size, PyObject *seq, PyObject *time) {
    int rc = -1;
    PyObject *model = NULL, *key = NULL, *entry = NULL, *line_bytes = NULL;
    if (!(model = PyUnicode_DecodeUTF8(e->model_id, (Py_ssize_t)e->model_len, "strict"))
        || !(key = overlay_key(e)) || !(line_bytes = PyBytes_FromStringAndSize(line, size))
        || !(entry = PyTuple_Pack(3, line_bytes, seq, time)))
        goto done;
    PyObject *per_model = PyDict_GetItemWithError(evaluations, model); /* borrowed */
    if (per_model == NULL) {
        if (PyErr_Occurred())
            goto done;
        PyObject *fresh = PyDict_New(), *place = Py_BuildValue("(Oi)", seq, 0);
        int bad = fresh == NULL || place == NULL || PyDict_SetItem(evaluations, model, fresh) < 0
                  || PyDict_SetItem(first, model, place) < 0;
        per_model = fresh;
        Py_XDECREF(fresh); /* the dict keeps it */
        Py_XDECREF(place);
        if (bad)
            goto done;
    }
    if (PyDict_SetItem(per_model, key, entry) < 0 || PyDict_SetItem(latest, model, key) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(model);
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(line_bytes);
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

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t pos, last_start = -1;
    unsigned long long seq;
    const char *prev_in;
    Py_ssize_t prev_len;
    PyObject *evaluations, *latest, *first, *time = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*nKs#O!O!O!", &data, &pos, &seq, &prev_in, &prev_len, &PyDict_Type,
                          &evaluations, &PyDict_Type, &latest, &PyDict_Type, &first))
        return NULL;
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
        PyObject *seq_obj = PyLong_FromUnsignedLongLong(seq + 1);
        PyObject *time_obj = PyUnicode_DecodeUTF8(e.time, (Py_ssize_t)e.time_len, "strict");
        int rc = (seq_obj == NULL || time_obj == NULL) ? -1
                 : record(evaluations, latest, first, &e, line, size, seq_obj, time_obj);
        yyjson_doc_free(doc);
        Py_XDECREF(seq_obj);
        if (rc < 0) {
            Py_XDECREF(time_obj);
            goto done;
        }
        Py_XSETREF(time, time_obj);
        memcpy(prev, line + size - TAIL_LEN + MARK_LEN, HEX_LEN);
        seq += 1;
        last_start = pos;
        pos += size;
    }
    result = Py_BuildValue("(nnKs#O)", pos, last_start, seq, prev, (Py_ssize_t)HEX_LEN,
                           time == NULL ? Py_None : time);
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

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
