# lib/: helpers shared by every daemon (logging, allocation, config, TLS).
LIB_SRCS := lib/log.c lib/xmalloc.c lib/conf.c lib/tls.c lib/kafka_conf.c \
	lib/civil.c lib/sink.c lib/api_token.c lib/utf8.c lib/net.c
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB_A    := $(B)/lib/libcrm.a

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The librdkafka glue, linked by the Kafka daemons only (with
# RDKAFKA_LIBS, capture/module.mk).
LIB_KAFKA_O := $(B)/lib/kafka.o
$(LIB_KAFKA_O): PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags rdkafka)
