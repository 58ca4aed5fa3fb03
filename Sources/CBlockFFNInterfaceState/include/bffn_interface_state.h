// The per-thread error state behind include/bffn.h's bffn_last_error_*: set by the Swift side of the C interface
// before it returns a failure, cleared at the start of every call.
#ifndef BFFN_INTERFACE_STATE_H
#define BFFN_INTERFACE_STATE_H

// Records a failure of this thread's current call: its status code, its JSON code name and its message (both
// copied; truncated to 4095 bytes at a UTF-8 boundary).
void bffn_interface_set_error(int code, const char *name, const char *message);
// Forgets this thread's last failure.
void bffn_interface_clear_error(void);

#endif
