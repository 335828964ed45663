<?php
/**
 * Plugin Name:       modgate
 * Plugin URI:        https://github.com/modgate/modgate
 * Description:       Checks every new comment with your modgate service before WordPress saves it: publish, hold for a moderator, file as spam, or ask for a captcha. Moderator decisions flow both ways.
 * Version:           0.1.1
 * Requires at least: 6.1
 * Requires PHP:      8.2
 * Author:            modgate
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       modgate
 *
 * @package modgate
 */

/*
 * modgate.php - the plugin's entry point: loads one file per concern and
 * registers their hooks. Nothing here talks to modgate itself.
 */

defined( 'ABSPATH' ) || exit;

define( 'MODGATE_PLUGIN_VERSION', '0.1.1' );
define( 'MODGATE_PLUGIN_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-modgate-settings.php';
require_once __DIR__ . '/includes/class-modgate-client.php';
require_once __DIR__ . '/includes/class-modgate-comments.php';
require_once __DIR__ . '/includes/class-modgate-form.php';
require_once __DIR__ . '/includes/class-modgate-cron.php';

Modgate_Comments::init();
Modgate_Form::init();
Modgate_Cron::init();

if ( is_admin() ) {
	require_once __DIR__ . '/includes/class-modgate-admin.php';
	require_once __DIR__ . '/includes/class-modgate-story.php';
	Modgate_Admin::init();
	Modgate_Story::init();
}

register_activation_hook( __FILE__, array( 'Modgate_Cron', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Modgate_Cron', 'deactivate' ) );
