# lib/: helpers shared by every daemon (logging, allocation, config, TLS).
LIB_SRCS := lib/log.c lib/xmalloc.c lib/conf.c lib/tls.c
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB_A    := $(B)/lib/libcrm.a

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
