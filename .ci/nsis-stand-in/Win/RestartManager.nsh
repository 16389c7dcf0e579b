; Test-only stand-in for NSIS's Include/Win/RestartManager.nsh, which NSIS 3.08 (Debian 12's
; nsis package) does not have and Tauri's utils.nsh includes. .ci/nsis-offline adds it only
; when the system's NSIS lacks the file. It offers what utils.nsh uses, with the same
; contract: StartSession leaves a session handle in its variable, or "" when no session
; could be started; RegisterFile and Shutdown leave the Win32 error code in $0.
!ifndef TIDEMARK_RESTARTMANAGER_STANDIN
!define TIDEMARK_RESTARTMANAGER_STANDIN

!include LogicLib.nsh

!define /ifndef RmForceShutdown 0x1
!define /ifndef RmRebootReasonPermissionDenied 0x1

!macro RestartManager_StartSession outvar
  Push $0
  Push $1
  ; $0: RmStartSession's result ("error" when System could not call it), $1: the handle
  System::Call 'RSTRTMGR::RmStartSession(*i -1 .r1, i 0, w "") i .r0'
  ${IfThen} "$0" != "0" ${|} StrCpy $1 "" ${|}
  Push $1
  Exch 2
  Pop $0
  Pop $1
  Pop ${outvar}
!macroend

!macro RestartManager_RegisterFile handle path
  Push "${path}"
  System::Call 'RSTRTMGR::RmRegisterResources(i ${handle}, i 1, *w s, i 0, p 0, i 0, p 0) i .r0'
!macroend

!macro RestartManager_Shutdown handle
  System::Call 'RSTRTMGR::RmShutdown(i ${handle}, i ${RmForceShutdown}, p 0) i .r0'
!macroend

!macro RestartManager_EndSession handle
  System::Call 'RSTRTMGR::RmEndSession(i ${handle})'
!macroend

!endif
