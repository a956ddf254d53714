/**
 * The project fields the REST API returns and accepts back (projects/serializers.py,
 * ProjectSerializer): what a person set up, not ids, counters, timestamps or values derived from
 * the labeling config. `model_version` is set last on restore: the server accepts only a version
 * that some imported prediction carries.
 */
export const PROJECT_SETTINGS = [
  'title', 'description', 'label_config', 'expert_instruction', 'show_instruction', 'show_skip_button',
  'enable_empty_annotation', 'show_annotation_history', 'color', 'maximum_annotations', 'is_published',
  'model_version', 'is_draft', 'min_annotations_to_start_training', 'show_collab_predictions', 'sampling',
  'show_ground_truth_first', 'show_overlap_first', 'overlap_cohort_percentage', 'task_data_login',
  'task_data_password', 'control_weights', 'evaluate_predictions_automatically', 'skip_queue',
  'reveal_preannotations_interactively', 'annotator_evaluation_enabled', 'pinned_at',
] as const;

export type ProjectSettings = Partial<Record<(typeof PROJECT_SETTINGS)[number], unknown>>;

/** The settable fields of a project as the API returned it. */
export function pickSettings(project: Record<string, unknown>): ProjectSettings {
  const settings: ProjectSettings = {};
  for (const key of PROJECT_SETTINGS) if (key in project) settings[key] = project[key];
  return settings;
}
