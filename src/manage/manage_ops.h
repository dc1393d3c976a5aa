/*
 * manage_ops: the operation tables of the service layer's parts, listed
 * once in manage.c. Each ends with { NULL }.
 */
#ifndef HERMOD_MANAGE_MANAGE_OPS_H
#define HERMOD_MANAGE_MANAGE_OPS_H

#include "manage/manage.h"

#endif
