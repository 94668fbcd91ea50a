#ifndef AIRLOCK_CSECCOMP_SHIM_H
#define AIRLOCK_CSECCOMP_SHIM_H
#include <seccomp.h>
#endif
