// SPDX-License-Identifier: MIT
/*
 * The state dir. Every file is replaced atomically: a crash at any moment
 * leaves either the old or the new file, never a torn one, and the directory
 * is synced after the rename so that the new name survives a power cut too
 * (the pending confirmation must, or a rollback would be lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine.h"
#include "store.h"

static int mkdir_p(const char *dir)
{
	char *d = strdup(dir);
	int r = 0;

	if (!d)
		return -ENOMEM;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(d, 0755) && errno != EEXIST)
			r = -errno;
		*p = '/';
	}
	if (!r && mkdir(d, 0755) && errno != EEXIST)
		r = -errno;
	free(d);
	return r;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int store_write(const char *state_dir, const char *file, const json_t *root)
{
	char *path = NULL, *tmp = NULL, *text = NULL;
	size_t len;
	int fd = -1, r;

	r = mkdir_p(state_dir);
	if (r)
		return r;
	if (asprintf(&path, "%s/%s", state_dir, file) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", state_dir, file) < 0) {
		free(path);
		return -ENOMEM;
	}
	text = json_dumps(root, JSON_INDENT(1));
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	errno = 0;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
		r = errno ? -errno : -EIO;
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path)) {
		r = -errno;
		unlink(tmp);
		goto out;
	}
	sync_dir(state_dir);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	free(tmp);
	return r;
}

int store_remove(const char *state_dir, const char *file)
{
	char *path = NULL;
	int r = 0;

	if (asprintf(&path, "%s/%s", state_dir, file) < 0)
		return -ENOMEM;
	if (unlink(path) && errno != ENOENT)
		r = -errno;
	else
		sync_dir(state_dir);
	free(path);
	return r;
}

/* One set (persistent or boot-time) as a state file. */
static json_t *set_json(struct engine *eng, enum lfp_lifetime lt)
{
	LFP_OPTS(lfp_print_opts, po, .show_secrets = true);
	json_t *root, *subs = json_array(), *filters = json_array();

	root = json_pack("{s:i, s:I, s:o, s:o}", "version", 1, "next_filter_id",
			 (json_int_t)eng->next_filter_id, "sublayers", subs, "filters", filters);
	if (!root)
		return NULL;
	for (size_t i = 0; i < eng->n_subs; i++) {
		const struct lfp_sublayer *s = &eng->subs[i];

		if (s->lifetime != lt || !strcmp(s->name, LFP_SUBLAYER_DEFAULT_NAME))
			continue;
		if (json_array_append_new(subs,
					  json_pack("{s:I, s:s, s:i, s:s?}", "id",
						    (json_int_t)s->id, "name", s->name, "weight",
						    s->weight, "provider", s->provider)))
			goto nomem;
	}
	for (size_t i = 0; i < eng->n_filters; i++) {
		const struct eng_filter *ef = eng->filters[i];
		char *t;
		int r;

		if (ef->f.lifetime != lt)
			continue;
		t = lfp_filter_to_text(&ef->f, &po);
		if (!t)
			goto nomem;
		r = json_array_append_new(filters, json_pack("{s:I, s:s?, s:I, s:s}", "id",
							     (json_int_t)ef->f.id, "provider",
							     ef->f.provider, "counter",
							     (json_int_t)ef->counter, "text", t));
		free(t);
		if (r)
			goto nomem;
	}
	return root;
nomem:
	json_decref(root);
	return NULL;
}

int store_save(struct engine *eng, struct lfp_diags *diags)
{
	static const struct {
		const char *file;
		enum lfp_lifetime lt;
	} sets[] = { { STORE_POLICY, LFP_LT_PERSISTENT }, { STORE_BOOT, LFP_LT_BOOT_TIME } };
	int r = 0;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]) && !r; i++) {
		json_t *root = set_json(eng, sets[i].lt);

		r = root ? store_write(eng->state_dir, sets[i].file, root) : -ENOMEM;
		json_decref(root);
		if (r)
			lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
				      "could not save %s in %s: %s", sets[i].file, eng->state_dir,
				      strerror(-r));
	}
	return r;
}

int store_read(const char *state_dir, const char *file, json_t **out, struct lfp_diags *diags)
{
	char *path = NULL;
	json_error_t err;
	json_t *root;

	*out = NULL;
	if (!state_dir)
		return -ENOENT;
	if (asprintf(&path, "%s/%s", state_dir, file) < 0)
		return -ENOMEM;
	if (access(path, F_OK)) {
		free(path);
		return -ENOENT;
	}
	root = json_load_file(path, 0, &err);
	if (!root || !json_is_object(root) ||
	    json_integer_value(json_object_get(root, "version")) != 1) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL, "%s:%d:%d: %s",
			      path, err.line, err.column,
			      root ? "not an lfp state file (version 1)" : err.text);
		json_decref(root);
		free(path);
		return -EINVAL;
	}
	free(path);
	*out = root;
	return 0;
}
