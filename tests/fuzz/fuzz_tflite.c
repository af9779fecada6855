/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the .tflite path of an upload: lib/tflite.c (the flatbuffer reader),
 * lib/arena.c (every arena profile) and lib/model.c (MACs, layers, the JSON of the analysis), all
 * through fleet_model_analyse, exactly as POST /api/v1/models runs them. Besides memory errors,
 * leaks, UB and hangs (libFuzzer's -timeout) it checks the promises of the headers: an error
 * always comes with a message and no result; a success has flash = input length, one arena figure
 * per profile, a layer per operator, and JSON that parses. Seeds: tests/fuzz/corpus/fuzz_tflite
 * (small models made by tests/unit/tflite_writer.c) and, in run.sh, the 23 real models. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet_model_info *info = (struct fleet_model_info *)&info;
    char err[256];
    err[0] = '\0';
    enum fleet_err rc = fleet_model_analyse(data, size, &info, err, sizeof(err));
    if (rc != FLEET_OK) {
        if (err[0] == '\0' || info != NULL)
            abort();
        return 0;
    }
    if (!info || info->flash_bytes != size || info->n_layers != info->n_ops || info->n_arena == 0)
        abort();
    for (size_t i = 0; i < info->n_arena; i++) {
        const struct fleet_arena *a = &info->arena[i].arena;
        if (a->total_bytes != a->head_bytes + a->tail_bytes)
            abort();
    }
    struct fleet_buf json = FLEET_BUF_INIT;
    fleet_model_info_json(info, &json);
    json_error_t jerr;
    json_t *j = json_loadb(json.data, json.len, 0, &jerr);
    if (!j)
        abort(); /* the analysis must always serialise to valid JSON */
    json_decref(j);
    fleet_buf_free(&json);
    fleet_model_info_free(info);
    return 0;
}
