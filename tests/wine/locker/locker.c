/* Holds a file open with no sharing, as Outlook holds its .pst or a database its files, until
 * its standard input closes. Prints "locked" once the file is held. Test-only: built for
 * Windows by .ci/wine-e2e and run under Wine beside tidemark.exe. */
#include <stdio.h>
#include <windows.h>

int wmain(int argc, wchar_t **argv) {
  if (argc != 2) {
    fwprintf(stderr, L"usage: locker FILE\n");
    return 2;
  }
  HANDLE h = CreateFileW(argv[1], GENERIC_READ | GENERIC_WRITE, 0 /* no sharing */, NULL,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    fwprintf(stderr, L"cannot open %ls: error %lu\n", argv[1], GetLastError());
    return 1;
  }
  printf("locked\n");
  fflush(stdout);
  while (getchar() != EOF) {
  }
  CloseHandle(h);
  return 0;
}
