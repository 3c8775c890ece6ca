/* json.c: a small recursive-descent JSON reader, enough for the JSON that svc
 * itself returns (svc_upstream_health, svc_upstream_get). See cli.h. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct parser {
  const char *p;
  int depth;
} parser;

#define JSON_MAX_DEPTH 64

static void skip_ws(parser *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ++ps->p;
}

static json_value *new_value(json_type t) {
  json_value *v = calloc(1, sizeof *v);
  if (v) v->type = t;
  return v;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; ++i) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Appends the UTF-8 encoding of cp to out; returns the bytes written. */
static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses a string at ps->p (on the opening quote); a malloc'ed copy or NULL. */
static char *parse_string(parser *ps) {
  const char *s = ps->p + 1;
  size_t cap = 0, n = 0;
  char *out;
  const char *q;
  /* Decoded text is never longer than the source. */
  for (q = s; *q && *q != '"'; ++q) {
    if (*q == '\\' && q[1]) ++q;
    ++cap;
  }
  if (*q != '"') return NULL;
  out = malloc(cap * 2 + 1);
  if (!out) return NULL;
  while (*s != '"') {
    char c = *s++;
    if ((unsigned char)c < 0x20) goto bad;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    c = *s++;
    switch (c) {
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case '/': out[n++] = '/'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(s, &cp) != 0) goto bad;
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, &lo) == 0 &&
            lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          s += 6;
        }
        n += put_utf8(out + n, cp);
        break;
      }
      default: goto bad;
    }
  }
  out[n] = '\0';
  ps->p = s + 1;
  return out;
bad:
  free(out);
  return NULL;
}

static json_value *parse_value(parser *ps);

static json_value *parse_container(parser *ps, int object) {
  json_value *v = new_value(object ? JSON_OBJECT : JSON_ARRAY), **tail;
  const char close = object ? '}' : ']';
  if (!v) return NULL;
  if (++ps->depth > JSON_MAX_DEPTH) goto bad;
  tail = &v->child;
  ++ps->p;
  skip_ws(ps);
  if (*ps->p == close) {
    ++ps->p;
    --ps->depth;
    return v;
  }
  for (;;) {
    char *key = NULL;
    json_value *item;
    skip_ws(ps);
    if (object) {
      if (*ps->p != '"' || !(key = parse_string(ps))) goto bad;
      skip_ws(ps);
      if (*ps->p != ':') {
        free(key);
        goto bad;
      }
      ++ps->p;
    }
    item = parse_value(ps);
    if (!item) {
      free(key);
      goto bad;
    }
    item->key = key;
    *tail = item;
    tail = &item->next;
    skip_ws(ps);
    if (*ps->p == ',') {
      ++ps->p;
      continue;
    }
    if (*ps->p == close) {
      ++ps->p;
      --ps->depth;
      return v;
    }
    goto bad;
  }
bad:
  json_free(v);
  return NULL;
}

static json_value *parse_value(parser *ps) {
  json_value *v;
  skip_ws(ps);
  switch (*ps->p) {
    case '{': return parse_container(ps, 1);
    case '[': return parse_container(ps, 0);
    case '"': {
      char *s = parse_string(ps);
      if (!s) return NULL;
      if (!(v = new_value(JSON_STRING))) {
        free(s);
        return NULL;
      }
      v->string = s;
      return v;
    }
    case 't':
    case 'f':
    case 'n': {
      static const char *const words[] = {"true", "false", "null"};
      int i;
      for (i = 0; i < 3; ++i) {
        size_t len = strlen(words[i]);
        if (strncmp(ps->p, words[i], len) == 0) {
          ps->p += len;
          if (!(v = new_value(i == 2 ? JSON_NULL : JSON_BOOL))) return NULL;
          v->number = i == 0;
          return v;
        }
      }
      return NULL;
    }
    default: {
      char *end;
      double d = strtod(ps->p, &end);
      if (end == ps->p) return NULL;
      ps->p = end;
      if (!(v = new_value(JSON_NUMBER))) return NULL;
      v->number = d;
      return v;
    }
  }
}

json_value *json_parse(const char *text) {
  parser ps;
  json_value *v;
  if (!text) return NULL;
  ps.p = text;
  ps.depth = 0;
  v = parse_value(&ps);
  if (!v) return NULL;
  skip_ws(&ps);
  if (*ps.p != '\0') {
    json_free(v);
    return NULL;
  }
  return v;
}

void json_free(json_value *v) {
  while (v) {
    json_value *next = v->next;
    json_free(v->child);
    free(v->key);
    free(v->string);
    free(v);
    v = next;
  }
}

const json_value *json_get(const json_value *obj, const char *key) {
  const json_value *c;
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (c = obj->child; c; c = c->next)
    if (c->key && strcmp(c->key, key) == 0) return c;
  return NULL;
}

const char *json_get_string(const json_value *obj, const char *key, const char *fallback) {
  const json_value *v = json_get(obj, key);
  return v && v->type == JSON_STRING ? v->string : fallback;
}

double json_get_number(const json_value *obj, const char *key, double fallback) {
  const json_value *v = json_get(obj, key);
  return v && v->type == JSON_NUMBER ? v->number : fallback;
}

size_t json_length(const json_value *v) {
  size_t n = 0;
  const json_value *c;
  if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT)) return 0;
  for (c = v->child; c; c = c->next) ++n;
  return n;
}
