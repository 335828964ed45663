<?php
/**
 * Modgate_Admin - wp-admin: the settings page (Settings > modgate) with
 * "Test connection", modgate's decision in the Comments list, and a box
 * with the reasons on the edit-comment screen.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The settings page uses the Settings API (one option, sanitized); the
 * test is an admin-post action behind a nonce and manage_options, whose
 * result waits in a short transient for the page it redirects to.
 * Everything shown is escaped; the key is never shown in full.
 */
final class Modgate_Admin {

	const PAGE = 'modgate';

	/** Registers the hooks. */
	public static function init(): void {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'register' ) );
		add_action( 'admin_post_modgate_test', array( __CLASS__, 'test_connection' ) );
		add_action( 'admin_notices', array( __CLASS__, 'notices' ) );
		add_filter( 'manage_edit-comments_columns', array( __CLASS__, 'columns' ) );
		add_action( 'manage_comments_custom_column', array( __CLASS__, 'column' ), 10, 2 );
		add_action( 'add_meta_boxes_comment', array( __CLASS__, 'meta_box' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( MODGATE_PLUGIN_FILE ), array( __CLASS__, 'action_links' ) );
	}

	/** admin_menu: Settings > modgate. */
	public static function menu(): void {
		add_options_page( 'modgate', 'modgate', 'manage_options', self::PAGE, array( __CLASS__, 'page' ) );
	}

	/**
	 * A "Settings" link on the Plugins screen.
	 *
	 * @param array $links The plugin's links.
	 */
	public static function action_links( $links ) {
		array_unshift( $links, '<a href="' . esc_url( admin_url( 'options-general.php?page=' . self::PAGE ) ) . '">' . esc_html__( 'Settings', 'modgate' ) . '</a>' );
		return $links;
	}

	/** admin_init: the setting and its fields. */
	public static function register(): void {
		register_setting(
			self::PAGE,
			Modgate_Settings::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
				'show_in_rest'      => false,
			)
		);
		add_settings_section( 'modgate_service', __( 'Your modgate service', 'modgate' ), '__return_false', self::PAGE );
		add_settings_section( 'modgate_comments', __( 'Comments', 'modgate' ), '__return_false', self::PAGE );
		$fields = array(
			'url'       => array( __( 'modgate URL', 'modgate' ), 'modgate_service' ),
			'site'      => array( __( 'Site', 'modgate' ), 'modgate_service' ),
			'key'       => array( __( 'CMS key', 'modgate' ), 'modgate_service' ),
			'ip_header' => array( __( 'Visitor IP header', 'modgate' ), 'modgate_comments' ),
			'discard'   => array( __( 'Blatant spam', 'modgate' ), 'modgate_comments' ),
			'decides'   => array( __( 'Publishing', 'modgate' ), 'modgate_comments' ),
		);
		foreach ( $fields as $name => $f ) {
			add_settings_field(
				'modgate_' . $name,
				$f[0],
				array( __CLASS__, 'field' ),
				self::PAGE,
				$f[1],
				array(
					'name'      => $name,
					'label_for' => 'modgate_' . $name,
				)
			);
		}
	}

	/**
	 * The option as the page posts it, made safe. An empty key field keeps
	 * the stored key (the page never shows it, so it never sends it back),
	 * unless the URL now points at another origin (scheme, host, port):
	 * then the stored key is dropped and must be entered again, so that a
	 * changed URL never receives a key typed for another service.
	 *
	 * @param mixed $in The posted array.
	 * @return array The option to store.
	 */
	public static function sanitize( $in ): array {
		$old = Modgate_Settings::stored();
		$in  = is_array( $in ) ? $in : array();
		$out = $old;
		if ( isset( $in['url'] ) ) {
			$url        = esc_url_raw( trim( (string) $in['url'] ), array( 'http', 'https' ) );
			$out['url'] = untrailingslashit( $url );
		}
		if ( isset( $in['site'] ) ) {
			$out['site'] = preg_replace( '/[^A-Za-z0-9._-]/', '', (string) $in['site'] );
		}
		if ( isset( $in['key'] ) && '' !== trim( (string) $in['key'] ) ) {
			$out['key'] = preg_replace( '/[^\x21-\x7e]/', '', (string) $in['key'] );
		} elseif ( Modgate_Settings::origin( (string) $out['url'] ) !== Modgate_Settings::origin( (string) $old['url'] ) ) {
			$out['key'] = '';
		}
		if ( isset( $in['ip_header'] ) ) {
			$out['ip_header'] = preg_replace( '/[^A-Za-z0-9-]/', '', (string) $in['ip_header'] );
		}
		$out['discard'] = empty( $in['discard'] ) ? 0 : 1;
		$out['decides'] = empty( $in['decides'] ) ? 0 : 1;
		delete_transient( 'modgate_no_captcha' );
		delete_transient( 'modgate_token_down' );
		return $out;
	}

	/**
	 * One field of the page. A setting a constant overrides is shown
	 * read-only, with the constant's name.
	 *
	 * @param array $args name.
	 */
	public static function field( $args ): void {
		$name   = $args['name'];
		$stored = Modgate_Settings::stored();
		$id     = 'modgate_' . $name;
		$attr   = 'id="' . esc_attr( $id ) . '" name="' . esc_attr( Modgate_Settings::OPTION . '[' . $name . ']' ) . '"';
		if ( Modgate_Settings::from_constant( $name ) ) {
			$value = (string) Modgate_Settings::get( $name );
			$shown = 'key' === $name ? Modgate_Settings::masked_key( $value ) : $value;
			echo '<input type="text" class="regular-text" id="' . esc_attr( $id ) . '" value="' . esc_attr( $shown ) . '" readonly="readonly" /> ';
			/* translators: %s: a PHP constant's name */
			echo '<p class="description modgate-constant">' . esc_html( sprintf( __( 'Set by %s in wp-config.php.', 'modgate' ), Modgate_Settings::CONSTANTS[ $name ] ) ) . '</p>';
			if ( 'url' === $name ) {
				self::cleartext_warning( $value );
			}
			return;
		}
		switch ( $name ) {
			case 'url':
				if ( Modgate_Settings::url_ignored() ) {
					echo '<input type="text" class="regular-text code" id="' . esc_attr( $id ) . '" value="" readonly="readonly" /> ';
					echo '<p id="modgate-url-ignored" class="description">' . esc_html__( 'MODGATE_KEY is set in wp-config.php: its key is only sent to a URL set there too. Define MODGATE_URL in wp-config.php.', 'modgate' ) . '</p>';
					break;
				}
				echo '<input type="url" class="regular-text code" ' . $attr . ' value="' . esc_attr( (string) $stored['url'] ) . '" placeholder="https://modgate.example.org" />'; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- $attr is escaped above
				echo '<p class="description">' . esc_html__( 'Changing it to another host or port drops the stored key: enter the key again with it.', 'modgate' ) . '</p>';
				self::cleartext_warning( (string) $stored['url'] );
				break;
			case 'site':
				echo '<input type="text" class="regular-text code" ' . $attr . ' value="' . esc_attr( (string) $stored['site'] ) . '" />'; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
				echo '<p class="description">' . esc_html__( 'The site name in modgate\'s configuration (sites.NAME).', 'modgate' ) . '</p>';
				break;
			case 'key':
				echo '<input type="password" class="regular-text code" autocomplete="off" ' . $attr . ' value="" placeholder="' . esc_attr( Modgate_Settings::masked_key( (string) $stored['key'] ) ) . '" />'; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
				echo '<p class="description">' . esc_html__( 'A key with the cms role for this site (modgate keygen). Leave empty to keep the stored key.', 'modgate' ) . '</p>';
				break;
			case 'ip_header':
				echo '<input type="text" class="regular-text code" ' . $attr . ' value="' . esc_attr( (string) $stored['ip_header'] ) . '" placeholder="X-Forwarded-For" />'; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
				echo '<p class="description">' . esc_html__( 'Only behind a reverse proxy that sets this header: the visitor\'s address is its last entry. Empty: the connection\'s address.', 'modgate' ) . '</p>';
				break;
			case 'discard':
				echo '<label><input type="checkbox" ' . $attr . ' value="1" ' . checked( (int) $stored['discard'], 1, false ) . ' /> '; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
				echo esc_html__( 'Discard rejected comments with a honeypot, blocked word or rate limit reason instead of filing them as spam', 'modgate' ) . '</label>';
				break;
			case 'decides':
				echo '<label><input type="checkbox" ' . $attr . ' value="1" ' . checked( (int) $stored['decides'], 1, false ) . ' /> '; // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped
				echo esc_html__( 'modgate decides which comments are published', 'modgate' ) . '</label>';
				echo '<p class="description">' . esc_html__( 'A comment modgate accepts is published, also from a first-time commenter or with links. In Settings > Discussion, "Comment must be manually approved" and the Comment Moderation words still hold it, and the Disallowed Comment Keys still trash it. Untick to let the stricter of WordPress and modgate win.', 'modgate' ) . '</p>';
				break;
		}
	}

	/**
	 * A warning under the URL when it is plain http:// to a host that is
	 * not loopback: the key and every comment travel in clear.
	 *
	 * @param string $url The URL.
	 */
	private static function cleartext_warning( string $url ): void {
		if ( Modgate_Settings::cleartext( $url ) ) {
			echo '<p id="modgate-cleartext" class="description" style="color:#b32d2e">' . esc_html__( 'Warning: this URL is plain http:// to another machine: the key and every comment travel unencrypted. Use https://.', 'modgate' ) . '</p>';
		}
	}

	/** The settings page. */
	public static function page(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="wrap"><h1>modgate</h1>';
		$result = get_transient( 'modgate_test_' . get_current_user_id() );
		if ( is_array( $result ) ) {
			delete_transient( 'modgate_test_' . get_current_user_id() );
			$class = $result['ok'] ? 'notice-success' : 'notice-error';
			echo '<div id="modgate-test-result" class="notice ' . esc_attr( $class ) . '"><p>' . esc_html( $result['text'] ) . '</p></div>';
		}
		echo '<form method="post" action="options.php">';
		settings_fields( self::PAGE );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
		echo '<form id="modgate-test" method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		echo '<input type="hidden" name="action" value="modgate_test" />';
		wp_nonce_field( 'modgate_test' );
		submit_button( __( 'Test connection', 'modgate' ), 'secondary', 'modgate-test-submit', false );
		echo '</form></div>';
	}

	/**
	 * admin-post: GET /v1/whoami with the key in force; the answer (site
	 * and role, or why not) waits for the settings page in a transient.
	 */
	public static function test_connection(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You may not do this.', 'modgate' ), 403 );
		}
		check_admin_referer( 'modgate_test' );
		if ( ! Modgate_Settings::configured() ) {
			$result = array(
				'ok'   => false,
				'text' => __( 'Set the modgate URL, the site and the key first.', 'modgate' ),
			);
		} else {
			$res  = Modgate_Client::whoami();
			$body = Modgate_Client::ok( $res ) ? $res['body'] : null;
			$site = (string) Modgate_Settings::get( 'site' );
			if ( ! is_array( $body ) ) {
				/* translators: %s: the error */
				$result = array(
					'ok'   => false,
					'text' => sprintf( __( 'modgate did not accept the key: %s', 'modgate' ), Modgate_Client::error_text( $res ) ),
				);
			} else {
				$role  = (string) ( $body['role'] ?? '' );
				$sites = is_array( $body['sites'] ?? null ) ? $body['sites'] : array();
				$ok    = 'cms' === $role && in_array( $site, $sites, true );
				/* translators: 1: site name, 2: role */
				$text = sprintf( __( 'Connected: site %1$s, role %2$s.', 'modgate' ), (string) ( $body['site'] ?? '' ), $role );
				if ( ! $ok ) {
					/* translators: %s: site name */
					$text .= ' ' . sprintf( __( 'Comments need a cms key of the site %s.', 'modgate' ), $site );
				}
				$result = array(
					'ok'   => $ok,
					'text' => $text,
				);
			}
		}
		set_transient( 'modgate_test_' . get_current_user_id(), $result, 5 * MINUTE_IN_SECONDS );
		wp_safe_redirect( admin_url( 'options-general.php?page=' . self::PAGE ) );
		exit;
	}

	/** admin_notices: the plugin is active but not set up, or the widget file is missing. */
	public static function notices(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		if ( Modgate_Settings::url_ignored() ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'modgate: MODGATE_KEY is set in wp-config.php but MODGATE_URL is not; the key is only sent to a URL from wp-config.php, so no comment is checked until MODGATE_URL is defined there.', 'modgate' ) . '</p></div>';
		} elseif ( ! Modgate_Settings::configured() ) {
			echo '<div class="notice notice-warning"><p>' . esc_html__( 'modgate checks no comments until its URL, site and key are set:', 'modgate' )
				. ' <a href="' . esc_url( admin_url( 'options-general.php?page=' . self::PAGE ) ) . '">' . esc_html__( 'Settings > modgate', 'modgate' ) . '</a></p></div>';
		}
		if ( ! Modgate_Form::widget_present() ) {
			echo '<div id="modgate-no-widget" class="notice notice-error"><p>' . esc_html__( 'modgate: the captcha widget (assets/altcha.min.js) is missing: this copy of the plugin was not installed from its zip. Until it is, comments modgate would challenge wait in Pending for a moderator instead of showing the reader a captcha. Build the zip with "make wordpress-plugin" in modgate\'s source and install build/modgate-wordpress.zip in Plugins > Add New > Upload Plugin (replacing this copy).', 'modgate' ) . '</p></div>';
		}
	}

	/**
	 * The Comments list gets a modgate column.
	 *
	 * @param array $cols The columns.
	 */
	public static function columns( $cols ) {
		$cols['modgate'] = 'modgate';
		return $cols;
	}

	/**
	 * One cell of the modgate column: "hold 0.8585 — too_many_links,
	 * suspect_word", or that modgate was unreachable.
	 *
	 * @param string $column The column.
	 * @param int    $id     The comment.
	 */
	public static function column( $column, $id ): void {
		if ( 'modgate' !== $column ) {
			return;
		}
		echo '<span class="modgate-summary">' . esc_html( self::summary( (int) $id ) ) . '</span>';
	}

	/**
	 * The one-line summary of what modgate said about a comment.
	 *
	 * @param int $id The comment.
	 */
	public static function summary( int $id ): string {
		if ( get_comment_meta( $id, 'modgate_error', true ) ) {
			return __( 'unreachable: checked again later', 'modgate' );
		}
		if ( get_comment_meta( $id, 'modgate_refused', true ) ) {
			return __( 'refused by modgate: left to a moderator', 'modgate' );
		}
		$decision = (string) get_comment_meta( $id, 'modgate_decision', true );
		if ( '' === $decision ) {
			return '';
		}
		$codes = array_column( self::reasons( $id ), 'code' );
		$text  = $decision . ' ' . (string) get_comment_meta( $id, 'modgate_score', true );
		if ( $codes ) {
			$text .= ' — ' . implode( ', ', array_map( 'strval', $codes ) );
		}
		$state = (string) get_comment_meta( $id, 'modgate_state', true );
		if ( '' !== $state ) {
			/* translators: %s: a state in modgate's queue */
			$text .= '; ' . sprintf( __( 'in modgate\'s queue: %s', 'modgate' ), $state );
		}
		$learned = (string) get_comment_meta( $id, 'modgate_learned', true );
		if ( '' !== $learned ) {
			/* translators: %s: spam or ham */
			$text .= '; ' . sprintf( __( 'taught %s', 'modgate' ), $learned );
		}
		return $text;
	}

	/**
	 * The reasons stored with a comment.
	 *
	 * @param int $id The comment.
	 * @return array<int, array>
	 */
	private static function reasons( int $id ): array {
		$r = json_decode( (string) get_comment_meta( $id, 'modgate_reasons', true ), true );
		return is_array( $r ) ? array_values( array_filter( $r, 'is_array' ) ) : array();
	}

	/** add_meta_boxes_comment: the box with the reasons. */
	public static function meta_box(): void {
		add_meta_box( 'modgate', 'modgate', array( __CLASS__, 'render_box' ), 'comment', 'normal' );
	}

	/**
	 * The box: the decision, the score and each reason with its filter,
	 * code, contribution and detail (which may quote the comment: escaped).
	 *
	 * @param WP_Comment $comment The comment.
	 */
	public static function render_box( $comment ): void {
		$id = (int) $comment->comment_ID;
		echo '<p class="modgate-summary">' . esc_html( self::summary( $id ) ) . '</p>';
		$err = (string) get_comment_meta( $id, 'modgate_error_text', true ) . (string) get_comment_meta( $id, 'modgate_refused', true );
		if ( '' !== $err ) {
			echo '<p>' . esc_html( $err ) . '</p>';
		}
		$reasons = self::reasons( $id );
		if ( $reasons ) {
			echo '<table class="widefat striped modgate-reasons"><thead><tr><th>' . esc_html__( 'Filter', 'modgate' ) . '</th><th>' . esc_html__( 'Reason', 'modgate' )
				. '</th><th>' . esc_html__( 'Contribution', 'modgate' ) . '</th><th>' . esc_html__( 'Detail', 'modgate' ) . '</th></tr></thead><tbody>';
			foreach ( $reasons as $r ) {
				echo '<tr><td>' . esc_html( (string) ( $r['filter'] ?? '' ) ) . '</td><td><code>' . esc_html( (string) ( $r['code'] ?? '' ) ) . '</code></td><td>'
					. esc_html( (string) ( $r['contribution'] ?? '' ) ) . '</td><td>' . esc_html( (string) ( $r['detail'] ?? '' ) ) . '</td></tr>';
			}
			echo '</tbody></table>';
		}
		$mid = (string) get_comment_meta( $id, 'modgate_id', true );
		if ( '' !== $mid ) {
			/* translators: %s: the comment's id in modgate */
			echo '<p class="description">' . esc_html( sprintf( __( 'Comment id in modgate: %s', 'modgate' ), $mid ) ) . '</p>';
		}
	}
}
