#ifndef WALINK_CSODIUM_SHIM_H
#define WALINK_CSODIUM_SHIM_H
#include <sodium.h>
#endif
