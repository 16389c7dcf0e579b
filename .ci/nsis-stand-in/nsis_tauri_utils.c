/*
 * Test-only stand-in for Tauri's `nsis_tauri_utils` NSIS plugin, so that Tauri's own installer
 * script can be compiled with makensis on a machine that cannot download the real plugin (see
 * .ci/nsis-offline). Never ship an installer built with it: the real plugin de-elevates
 * RunAsUser and compares versions with a full semver library.
 *
 * It has the three calls Tauri's installer.nsi and utils.nsh make, with the same stack
 * contract: arguments are popped in the order they are written, results are pushed.
 *   StrReplace    haystack needle replacement  -> haystack with every needle replaced
 *   SemverCompare v1 v2                        -> 1, 0 or -1 (v1 newer, equal, older)
 *   RunAsUser     program arguments            -> nothing
 */
#include <windows.h>
#include <shellapi.h>

typedef struct stack_item {
  struct stack_item *next;
  WCHAR text[1];
} stack_item;

/* NSIS's string_size (characters), which every NSIS variable fits in; set by init() at the
   start of every call, before anything is allocated. */
static int string_size;
static stack_item **stack_top;

static void init(int size, stack_item **top) {
  string_size = size;
  stack_top = top;
}

/* Copies the top of the stack into buf (string_size WCHARs) and drops it; "" when empty. */
static void pop(WCHAR *buf) {
  stack_item *top = stack_top ? *stack_top : NULL;
  buf[0] = 0;
  if (!top) return;
  lstrcpynW(buf, top->text, string_size);
  *stack_top = top->next;
  GlobalFree(top);
}

static void push(const WCHAR *s) {
  stack_item *item;
  if (!stack_top) return;
  item = (stack_item *)GlobalAlloc(GPTR, sizeof(stack_item) + string_size * sizeof(WCHAR));
  if (!item) return;
  lstrcpynW(item->text, s, string_size);
  item->next = *stack_top;
  *stack_top = item;
}

/* Whether s starts with prefix (no C runtime: the DLL only needs kernel32 and shell32). */
static int starts_with(const WCHAR *s, const WCHAR *prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return 0;
  return 1;
}

static int compare_n(const WCHAR *a, const WCHAR *b, int n) {
  int i;
  for (i = 0; i < n; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

static WCHAR *alloc_string(void) {
  return (WCHAR *)GlobalAlloc(GPTR, (string_size + 1) * sizeof(WCHAR));
}

__declspec(dllexport) void __cdecl StrReplace(HWND parent, int size, WCHAR *vars,
                                              stack_item **top, void *extra) {
  WCHAR *hay, *needle, *with, *out;
  (void)parent; (void)vars; (void)extra;
  init(size, top);
  hay = alloc_string(); needle = alloc_string(); with = alloc_string(); out = alloc_string();
  if (!hay || !needle || !with || !out) return;
  pop(hay); pop(needle); pop(with);
  {
    int n = lstrlenW(needle), w = lstrlenW(with), o = 0;
    const WCHAR *p = hay;
    while (*p && o < string_size - 1) {
      if (n > 0 && starts_with(p, needle)) {
        int k;
        for (k = 0; k < w && o < string_size - 1; k++) out[o++] = with[k];
        p += n;
      } else {
        out[o++] = *p++;
      }
    }
    out[o] = 0;
  }
  push(out);
  GlobalFree(hay); GlobalFree(needle); GlobalFree(with); GlobalFree(out);
}

/* Parses MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; returns 0 when it is not such a version. */
static int parse_version(const WCHAR *s, unsigned long long core[3], const WCHAR **pre) {
  int i;
  *pre = NULL;
  for (i = 0; i < 3; i++) {
    if (*s < L'0' || *s > L'9') return 0;
    core[i] = 0;
    while (*s >= L'0' && *s <= L'9') core[i] = core[i] * 10 + (*s++ - L'0');
    if (i < 2 && *s++ != L'.') return 0;
  }
  if (*s == L'-') *pre = ++s;
  else if (*s != 0 && *s != L'+') return 0;
  return 1;
}

static int is_numeric(const WCHAR *s, int len) {
  int i;
  for (i = 0; i < len; i++)
    if (s[i] < L'0' || s[i] > L'9') return 0;
  return len > 0;
}

/* Semver precedence of two pre-release strings (each ends at '+' or the end). */
static int compare_pre(const WCHAR *a, const WCHAR *b) {
  while (1) {
    int la = 0, lb = 0, c;
    int a_end = (*a == 0 || *a == L'+'), b_end = (*b == 0 || *b == L'+');
    if (a_end || b_end) return a_end && b_end ? 0 : (a_end ? -1 : 1);
    while (a[la] && a[la] != L'.' && a[la] != L'+') la++;
    while (b[lb] && b[lb] != L'.' && b[lb] != L'+') lb++;
    if (is_numeric(a, la) && is_numeric(b, lb)) {
      if (la != lb) return la < lb ? -1 : 1;
      c = compare_n(a, b, la);
    } else if (is_numeric(a, la) || is_numeric(b, lb)) {
      return is_numeric(a, la) ? -1 : 1;
    } else {
      c = compare_n(a, b, la < lb ? la : lb);
      if (c == 0 && la != lb) c = la < lb ? -1 : 1;
    }
    if (c != 0) return c < 0 ? -1 : 1;
    a += la; b += lb;
    if (*a == L'.') a++;
    if (*b == L'.') b++;
  }
}

__declspec(dllexport) void __cdecl SemverCompare(HWND parent, int size, WCHAR *vars,
                                                 stack_item **top, void *extra) {
  WCHAR *a, *b;
  unsigned long long va[3], vb[3];
  const WCHAR *pa, *pb;
  int ok_a, ok_b, result = 0, i;
  (void)parent; (void)vars; (void)extra;
  init(size, top);
  a = alloc_string(); b = alloc_string();
  if (!a || !b) return;
  pop(a); pop(b);
  ok_a = parse_version(a, va, &pa);
  ok_b = parse_version(b, vb, &pb);
  if (ok_a != ok_b) {
    result = ok_a ? 1 : -1; /* a version is newer than anything that is not one */
  } else if (ok_a) {
    for (i = 0; i < 3 && result == 0; i++)
      if (va[i] != vb[i]) result = va[i] < vb[i] ? -1 : 1;
    if (result == 0 && (pa || pb)) result = !pa ? 1 : !pb ? -1 : compare_pre(pa, pb);
  }
  push(result > 0 ? L"1" : result < 0 ? L"-1" : L"0");
  GlobalFree(a); GlobalFree(b);
}

__declspec(dllexport) void __cdecl RunAsUser(HWND parent, int size, WCHAR *vars,
                                             stack_item **top, void *extra) {
  WCHAR *program, *args;
  (void)vars; (void)extra;
  init(size, top);
  program = alloc_string(); args = alloc_string();
  if (!program || !args) return;
  pop(program); pop(args);
  ShellExecuteW(parent, L"open", program, args[0] ? args : NULL, NULL, SW_SHOWNORMAL);
  GlobalFree(program); GlobalFree(args);
}
