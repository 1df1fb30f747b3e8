// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine.h"
#include "store.h"

#define STORE_FILE "policy.json"

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

int store_save(struct engine *eng, struct lfp_diags *diags)
{
	LFP_OPTS(lfp_print_opts, po, .show_secrets = true);
	json_t *root = json_object(), *subs = json_array(), *filters = json_array();
	char *path = NULL, *tmp = NULL, *text = NULL;
	int fd = -1, r;

	if (!root || !subs || !filters) {
		r = -ENOMEM;
		goto out;
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "next_filter_id", json_integer((json_int_t)eng->next_filter_id));
	json_object_set(root, "sublayers", subs);
	json_object_set(root, "filters", filters);
	for (size_t i = 0; i < eng->n_subs; i++) {
		const struct lfp_sublayer *s = &eng->subs[i];

		if (s->lifetime != LFP_LT_PERSISTENT || !strcmp(s->name, LFP_SUBLAYER_DEFAULT_NAME))
			continue;
		json_array_append_new(subs, json_pack("{s:I, s:s, s:i, s:s?}", "id",
						      (json_int_t)s->id, "name", s->name, "weight",
						      s->weight, "provider", s->provider));
	}
	for (size_t i = 0; i < eng->n_filters; i++) {
		const struct eng_filter *ef = eng->filters[i];
		char *t;

		if (ef->f.lifetime != LFP_LT_PERSISTENT)
			continue;
		t = lfp_filter_to_text(&ef->f, &po);
		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		json_array_append_new(filters,
				      json_pack("{s:I, s:s?, s:I, s:s}", "id", (json_int_t)ef->f.id,
						"provider", ef->f.provider, "counter",
						(json_int_t)ef->counter, "text", t));
		free(t);
	}
	r = mkdir_p(eng->state_dir);
	if (r)
		goto out;
	if (asprintf(&path, "%s/%s", eng->state_dir, STORE_FILE) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", eng->state_dir, STORE_FILE) < 0) {
		path = tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	text = json_dumps(root, JSON_INDENT(1));
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd)) {
		r = errno ? -errno : -EIO;
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path)) {
		r = -errno;
		unlink(tmp);
		goto out;
	}
	r = 0;
out:
	if (r)
		lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
			      "could not save the policy in %s: %s", eng->state_dir, strerror(-r));
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	free(tmp);
	json_decref(subs);
	json_decref(filters);
	json_decref(root);
	return r;
}

int store_read(const char *state_dir, json_t **out, struct lfp_diags *diags)
{
	char *path = NULL;
	json_error_t err;
	json_t *root;

	*out = NULL;
	if (!state_dir)
		return -ENOENT;
	if (asprintf(&path, "%s/%s", state_dir, STORE_FILE) < 0)
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
