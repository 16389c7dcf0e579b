/* A stand-in for Windows' bcryptprimitives.dll, for running tidemark.exe under Wine on the
 * test machine only: never shipped, never installed beside a real build.
 *
 * Rust's standard library on Windows gets its random bytes (HashMap keys, ...) from
 * ProcessPrng, which Wine 8.0 does not provide: without this the .exe exits with status 53
 * before main. SystemFunction036 (RtlGenRandom) in advapi32 is Wine's own generator. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG: fill a larger request in pieces. */
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
