<?php
/**
 * Modgate_Story - a story's comment settings in modgate, set from the
 * post's edit screen: pre-moderate every comment, those with links or
 * those of new commenters, for a day, a week or until changed (modgate's
 * PUT /v1/sites/{site}/threads/{post id}, api.md §2.14). WordPress's own
 * "Allow comments" still closes a post.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Hooks: add_meta_boxes (the box on posts and pages that take comments)
 * and save_post (the choice sent to modgate). What was set is kept in the
 * post meta modgate_story (JSON: premod, until, by), an error in the
 * transient shown once as an admin notice.
 */
final class Modgate_Story {

	const META  = 'modgate_story';
	const NONCE = 'modgate_story_nonce';

	/** Pre-moderation choices: modgate's premod values, and "site": the site's own. */
	const PREMOD = array( 'site', 'all', 'links', 'new', 'none' );

	/** Durations offered, seconds (0: until changed). */
	const FOR_S = array( 86400, 7 * 86400, 0 );

	/** Register the hooks (admin only). */
	public static function init(): void {
		add_action( 'add_meta_boxes', array( __CLASS__, 'meta_box' ), 10, 2 );
		add_action( 'save_post', array( __CLASS__, 'on_save' ), 10, 2 );
		add_action( 'admin_notices', array( __CLASS__, 'notice' ) );
	}

	/**
	 * add_meta_boxes: the box, on post types with comments.
	 *
	 * @param string  $type The post type.
	 * @param WP_Post $post The post.
	 */
	public static function meta_box( $type, $post ): void {
		if ( post_type_supports( (string) $type, 'comments' ) ) {
			add_meta_box( 'modgate-story', __( 'modgate: comments on this story', 'modgate' ), array( __CLASS__, 'render' ), (string) $type, 'side' );
		}
	}

	/**
	 * The box: the setting in force (as last sent) and the form.
	 *
	 * @param WP_Post $post The post.
	 */
	public static function render( $post ): void {
		$cur = json_decode( (string) get_post_meta( $post->ID, self::META, true ), true );
		$cur = is_array( $cur ) ? $cur : array();
		$now = (string) ( $cur['premod'] ?? 'site' );
		if ( ! empty( $cur['until'] ) && (int) $cur['until'] <= time() ) {
			$now = 'site'; // it ended
		}
		wp_nonce_field( 'modgate_story_' . $post->ID, self::NONCE );
		$labels = array(
			'site'  => __( 'As the site', 'modgate' ),
			'all'   => __( 'Pre-moderate every comment', 'modgate' ),
			'links' => __( 'Pre-moderate comments with links', 'modgate' ),
			'new'   => __( 'Pre-moderate new commenters', 'modgate' ),
			'none'  => __( 'No pre-moderation', 'modgate' ),
		);
		echo '<p><select name="modgate_story_premod" id="modgate-story-premod">';
		foreach ( self::PREMOD as $p ) {
			echo '<option value="' . esc_attr( $p ) . '"' . selected( $now, $p, false ) . '>' . esc_html( $labels[ $p ] ) . '</option>';
		}
		echo '</select></p><p><select name="modgate_story_for" id="modgate-story-for">';
		$fors = array(
			86400     => __( 'for a day', 'modgate' ),
			7 * 86400 => __( 'for a week', 'modgate' ),
			0         => __( 'until changed', 'modgate' ),
		);
		foreach ( $fors as $s => $label ) {
			echo '<option value="' . esc_attr( (string) $s ) . '">' . esc_html( $label ) . '</option>';
		}
		echo '</select></p>';
		if ( 'site' !== $now && ! empty( $cur['until'] ) ) {
			/* translators: %s: date and time the setting ends */
			echo '<p class="description">' . esc_html( sprintf( __( 'Until %s', 'modgate' ), wp_date( 'Y-m-d H:i', (int) $cur['until'] ) ) ) . '</p>';
		}
	}

	/**
	 * save_post: send the box's choice, when the box was on the form, the
	 * nonce is the post's and the user may edit it. Autosaves and
	 * revisions send nothing.
	 *
	 * @param int     $post_id The post.
	 * @param WP_Post $post    The post.
	 */
	public static function on_save( $post_id, $post ): void {
		$post_id = (int) $post_id;
		// phpcs:ignore WordPress.Security.ValidatedSanitizedInput.MissingUnslash,WordPress.Security.ValidatedSanitizedInput.InputNotSanitized -- a nonce is compared, not stored
		$nonce = isset( $_POST[ self::NONCE ] ) ? (string) $_POST[ self::NONCE ] : '';
		if ( '' === $nonce || ! wp_verify_nonce( $nonce, 'modgate_story_' . $post_id ) || wp_is_post_autosave( $post_id )
			|| wp_is_post_revision( $post_id ) || ! current_user_can( 'edit_post', $post_id ) ) {
			return;
		}
		$premod = sanitize_key( wp_unslash( $_POST['modgate_story_premod'] ?? 'site' ) );
		$for_s  = absint( wp_unslash( $_POST['modgate_story_for'] ?? 86400 ) );
		if ( ! in_array( $premod, self::PREMOD, true ) || ! in_array( $for_s, self::FOR_S, true ) ) {
			return;
		}
		$cur = json_decode( (string) get_post_meta( $post_id, self::META, true ), true );
		if ( 'site' === $premod && ! is_array( $cur ) ) {
			return; // nothing was set: nothing to undo
		}
		self::apply( $post_id, $premod, $for_s );
	}

	/**
	 * Set (or, "site", remove) the story's pre-moderation in modgate and
	 * remember it. Returns whether modgate took it.
	 *
	 * @param int    $post_id The post: modgate's thread id.
	 * @param string $premod  One of PREMOD.
	 * @param int    $for_s   Seconds, 0: until changed.
	 */
	public static function apply( int $post_id, string $premod, int $for_s ): bool {
		$path = '/v1/sites/' . rawurlencode( (string) Modgate_Settings::get( 'site' ) ) . '/threads/' . $post_id;
		if ( 'site' === $premod ) {
			$res = Modgate_Client::request( 'DELETE', $path );
		} else {
			$user = wp_get_current_user();
			$body = array(
				'premod' => $premod,
				'note'   => 'set in WordPress by ' . ( $user->exists() ? $user->user_login : 'WordPress' ),
			);
			if ( $for_s > 0 ) {
				$body['for_s'] = $for_s;
			}
			$res = Modgate_Client::request( 'PUT', $path, $body );
		}
		if ( ! Modgate_Client::ok( $res ) ) {
			set_transient( 'modgate_story_error_' . get_current_user_id(), Modgate_Client::error_text( $res ), 60 );
			return false;
		}
		if ( 'site' === $premod ) {
			delete_post_meta( $post_id, self::META );
		} else {
			update_post_meta(
				$post_id,
				self::META,
				wp_json_encode(
					array(
						'premod' => $premod,
						'until'  => $for_s > 0 ? time() + $for_s : 0,
					)
				)
			);
		}
		return true;
	}

	/** admin_notices: a failed setting, once. */
	public static function notice(): void {
		$key = 'modgate_story_error_' . get_current_user_id();
		$err = get_transient( $key );
		if ( false !== $err ) {
			delete_transient( $key );
			/* translators: %s: modgate's error */
			echo '<div class="notice notice-error"><p>' . esc_html( sprintf( __( 'modgate did not take the story setting: %s', 'modgate' ), (string) $err ) ) . '</p></div>';
		}
	}
}
