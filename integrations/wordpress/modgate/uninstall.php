<?php
/**
 * uninstall.php - run by WordPress when the plugin is deleted: removes its
 * options, transients, scheduled jobs and the comment meta it kept.
 *
 * @package modgate
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'modgate_settings' );
delete_option( 'modgate_events_cursor' );
delete_transient( 'modgate_no_captcha' );
delete_transient( 'modgate_token_down' );
wp_clear_scheduled_hook( 'modgate_cron' );
wp_clear_scheduled_hook( 'modgate_recheck' );
foreach ( array(
	'modgate_id',
	'modgate_decision',
	'modgate_score',
	'modgate_reasons',
	'modgate_error',
	'modgate_error_text',
	'modgate_request',
	'modgate_delayed_email',
	'modgate_learned',
	'modgate_learn_pending',
	'modgate_learn_error',
	'modgate_state',
	'modgate_event',
	'modgate_report_pending',
	'modgate_refused',
) as $modgate_key ) {
	delete_metadata( 'comment', 0, $modgate_key, '', true );
}
